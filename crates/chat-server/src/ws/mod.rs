//! `GET /ws`: the checks, the WebSocket handshake, then one task per connection.

mod connection;
mod frame;
mod handshake;
mod session;

pub use frame::text as text_frame;

use crate::identity::{ConnectParams, IdentityError, identify};
use crate::state::AppState;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Checks origin, handshake and identity, then upgrades. Refusals are plain HTTP errors.
pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    Query(params): Query<ConnectParams>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("\u{fffd}"));
    if !app.origin_allowed(origin) {
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let accept = match handshake::accept_key(headers) {
        Ok(accept) => accept,
        Err(refusal) => return refusal.into_response(),
    };
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
    let upgraded = hyper::upgrade::on(&mut request);
    let tracker = app.connections.clone();
    tokio::spawn(tracker.track_future(async move {
        match upgraded.await {
            Ok(socket) => connection::run(TokioIo::new(socket), app, identity).await,
            Err(err) => tracing::debug!(error = %err, "upgrade failed"),
        }
    }));
    handshake::switching_protocols(accept)
}
