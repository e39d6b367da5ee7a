//! The server side of the WebSocket opening handshake (RFC 6455 §4.2).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Why a request is not a WebSocket handshake this server can accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

/// Checks the handshake headers and returns the `Sec-WebSocket-Accept` value.
pub fn accept_key(headers: &HeaderMap) -> Result<String, Refusal> {
    let refuse = |status, message| Err(Refusal { status, message });
    if !has_token(headers, header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send Upgrade: websocket\n",
        );
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return refuse(StatusCode::BAD_REQUEST, "missing Connection: upgrade\n");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported\n",
        );
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if !key.is_empty() => Ok(derive_accept_key(key.as_bytes())),
        _ => refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n"),
    }
}

/// The `101 Switching Protocols` answer that completes the handshake.
pub fn switching_protocols(accept: String) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_rfc_example_key_is_accepted() {
        let map = headers(&[
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(
            accept_key(&map).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn plain_http_and_old_versions_are_refused() {
        let plain = accept_key(&headers(&[])).expect_err("plain GET");
        assert_eq!(plain.status, StatusCode::UPGRADE_REQUIRED);
        let old = accept_key(&headers(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "x"),
        ]))
        .expect_err("version 8");
        assert_eq!(old.status, StatusCode::UPGRADE_REQUIRED);
        let keyless = accept_key(&headers(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "13"),
        ]))
        .expect_err("no key");
        assert_eq!(keyless.status, StatusCode::BAD_REQUEST);
    }
}
