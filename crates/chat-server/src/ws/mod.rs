//! `GET /ws`: the upgrade, then one task per connection (reader + handler) and one writer.

mod connection;
mod session;
mod writer;

use crate::identity::{ConnectParams, IdentityError, identify};
use crate::state::AppState;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_protocol::MAX_FRAME_BYTES;
use std::sync::Arc;

/// Per-socket read buffer. tungstenite's default is 128 KiB per socket, which dominates
/// an idle connection's memory; frames larger than this still arrive, in several reads.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames are gathered up to this many bytes before a socket write, so a burst of small
/// frames leaves in few writes; each batch ends with a flush anyway.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Checks origin and identity, then upgrades. Refusals are plain HTTP errors.
pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<ConnectParams>,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("\u{fffd}"));
    if !app.origin_allowed(origin) {
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let identity = match identify(app.store.as_ref(), &params).await {
        Ok(identity) => identity,
        Err(IdentityError::BadName(refusal)) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("invalid name: {}\n", refusal.message),
            )
                .into_response();
        }
        Err(IdentityError::Store(err)) => {
            tracing::error!(error = %err, "cannot resolve session");
            return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response();
        }
    };
    let tracker = app.connections.clone();
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| tracker.track_future(connection::run(socket, app, identity)))
}
