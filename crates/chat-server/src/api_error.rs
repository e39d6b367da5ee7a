//! The one error type of the HTTP routes (REST and the WebSocket upgrade alike): every refusal and failure becomes a status and
//! a plain-text sentence here, so handlers return `Result<_, ApiError>` and use `?`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Display;

/// Why an HTTP request was not answered with what it asked for.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed (400).
    BadRequest(String),
    /// Missing or wrong credentials (401).
    Unauthorized(String),
    /// The browser's origin may not open sockets here (403).
    Forbidden(&'static str),
    /// Nothing public by that name (404); private rooms answer this too.
    NotFound(&'static str),
    /// A plain request to the WebSocket endpoint, or an unsupported version (426).
    UpgradeRequired(&'static str),
    /// Over a rate limit (429); the client may try again after this long.
    TooManyRequests(std::time::Duration),
    /// Storage failed or did not answer (503); the cause is logged, not shown.
    Unavailable,
}

impl ApiError {
    /// A storage failure: logged with what was being done, answered with 503.
    pub fn storage(doing: &str, err: impl Display) -> ApiError {
        tracing::error!(error = %err, "{doing}");
        ApiError::Unavailable
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::TooManyRequests(wait) => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        };
        let (status, body) = match self {
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, why),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, why.to_owned()),
            ApiError::NotFound(why) => (StatusCode::NOT_FOUND, why.to_owned()),
            ApiError::UpgradeRequired(why) => (StatusCode::UPGRADE_REQUIRED, why.to_owned()),
            ApiError::TooManyRequests(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address; try again later".to_owned(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable".to_owned(),
            ),
        };
        let body = if body.ends_with('\n') {
            body
        } else {
            format!("{body}\n")
        };
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: say which scheme would be accepted.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455 §4.4: tell the client which version we speak.
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}
