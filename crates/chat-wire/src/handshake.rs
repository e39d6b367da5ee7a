//! The server side of the opening handshake (RFC 6455 §4.2.1): which requests may be
//! upgraded, and the `Sec-WebSocket-Accept` answer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, Method, StatusCode, Version, header};
use sha1::{Digest, Sha1};

/// The GUID every accept key is derived with (§1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a request cannot be upgraded, one variant per rule of §4.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not `GET` (HEAD included: it cannot switch protocols).
    NotGet,
    /// Not HTTP/1.1 (an HTTP/1.0 client cannot be upgraded).
    NotHttp11,
    /// No `Host` header.
    NoHost,
    /// No `Upgrade: websocket`: a plain HTTP request (426, so a browser learns why).
    NoUpgrade,
    /// No `Connection: Upgrade`.
    NoConnectionUpgrade,
    /// A `Sec-WebSocket-Version` other than 13 (426 with the version we speak).
    BadVersion,
    /// No `Sec-WebSocket-Key`, or one that is not 16 bytes in base64.
    BadKey,
}

impl Refusal {
    /// The HTTP status the refusal is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NoUpgrade | Refusal::BadVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A sentence for the response body.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotGet => "a WebSocket handshake is a GET request\n",
            Refusal::NotHttp11 => "a WebSocket handshake needs HTTP/1.1\n",
            Refusal::NoHost => "missing Host header\n",
            Refusal::NoUpgrade => "this is a WebSocket endpoint: send Upgrade: websocket\n",
            Refusal::NoConnectionUpgrade => "missing Connection: upgrade\n",
            Refusal::BadVersion => "only WebSocket version 13 is supported\n",
            Refusal::BadKey => "Sec-WebSocket-Key must be 16 bytes in base64\n",
        }
    }
}

/// Checks a request against §4.2.1 and returns its `Sec-WebSocket-Accept` value.
pub fn accept(method: &Method, version: Version, headers: &HeaderMap) -> Result<String, Refusal> {
    if !has_token(headers, &header::UPGRADE, "websocket") {
        return Err(Refusal::NoUpgrade);
    }
    if method != Method::GET {
        return Err(Refusal::NotGet);
    }
    if version != Version::HTTP_11 {
        return Err(Refusal::NotHttp11);
    }
    if headers.get(header::HOST).is_none_or(|h| h.is_empty()) {
        return Err(Refusal::NoHost);
    }
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return Err(Refusal::NoConnectionUpgrade);
    }
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes() == b"13" => {}
        _ => return Err(Refusal::BadVersion),
    }
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.as_bytes(),
        _ => return Err(Refusal::BadKey),
    };
    let key = trim_ascii(key);
    match STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(accept_key(key)),
        _ => Err(Refusal::BadKey),
    }
}

/// `base64(SHA-1(key + GUID))` (§4.2.2 step 5.4).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    STANDARD.encode(sha.finalize())
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
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
    use http::HeaderValue;

    const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("host", "chat.example"),
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", RFC_KEY),
        ]
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn without(name: &str) -> HeaderMap {
        map(&valid()
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect::<Vec<_>>())
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut pairs: Vec<_> = valid().into_iter().filter(|(n, _)| *n != name).collect();
        pairs.push((name, value));
        map(&pairs)
    }

    #[test]
    fn the_rfc_example_is_accepted() {
        assert_eq!(
            accept(&Method::GET, Version::HTTP_11, &map(&valid())).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    /// Every rule of §4.2.1, one named case each.
    #[test]
    fn each_rule_refuses_with_its_reason() {
        let get = Method::GET;
        let v11 = Version::HTTP_11;
        let cases: Vec<(&str, Method, Version, HeaderMap, Refusal)> = vec![
            ("HEAD", Method::HEAD, v11, map(&valid()), Refusal::NotGet),
            ("POST", Method::POST, v11, map(&valid()), Refusal::NotGet),
            (
                "HTTP/1.0",
                get.clone(),
                Version::HTTP_10,
                map(&valid()),
                Refusal::NotHttp11,
            ),
            (
                "no Host",
                get.clone(),
                v11,
                without("host"),
                Refusal::NoHost,
            ),
            (
                "plain GET",
                get.clone(),
                v11,
                map(&[("host", "x")]),
                Refusal::NoUpgrade,
            ),
            (
                "no Connection",
                get.clone(),
                v11,
                without("connection"),
                Refusal::NoConnectionUpgrade,
            ),
            (
                "version 8",
                get.clone(),
                v11,
                with("sec-websocket-version", "8"),
                Refusal::BadVersion,
            ),
            (
                "no version",
                get.clone(),
                v11,
                without("sec-websocket-version"),
                Refusal::BadVersion,
            ),
            (
                "no key",
                get.clone(),
                v11,
                without("sec-websocket-key"),
                Refusal::BadKey,
            ),
            (
                "empty key",
                get.clone(),
                v11,
                with("sec-websocket-key", ""),
                Refusal::BadKey,
            ),
            (
                "key not base64",
                get.clone(),
                v11,
                with("sec-websocket-key", "not base64 at all!!!!!=="),
                Refusal::BadKey,
            ),
            (
                "15-byte key",
                get.clone(),
                v11,
                with("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAA"),
                Refusal::BadKey,
            ),
            (
                "17-byte key",
                get.clone(),
                v11,
                with("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAAA="),
                Refusal::BadKey,
            ),
        ];
        for (name, method, version, headers, refusal) in cases {
            assert_eq!(accept(&method, version, &headers), Err(refusal), "{name}");
        }
        assert_eq!(Refusal::NoUpgrade.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(Refusal::NotGet.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn two_keys_are_refused() {
        let mut headers = map(&valid());
        headers.append("sec-websocket-key", HeaderValue::from_static(RFC_KEY));
        assert_eq!(
            accept(&Method::GET, Version::HTTP_11, &headers),
            Err(Refusal::BadKey)
        );
    }
}
