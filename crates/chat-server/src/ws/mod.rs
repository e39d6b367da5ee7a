//! `GET /ws`: the checks, the WebSocket handshake, then one task per connection.

mod access;
mod connection;
mod handler;
mod joined;
mod moderation;
mod pairs;
mod private;

pub use connection::close_gracefully;
use connection::{Start, WelcomeLists};

use crate::api_error::ApiError;
use crate::client_addr::client_ip;
use crate::identity::{ConnectParams, Identity, IdentityError, identify};
use crate::state::AppState;
use crate::store::StoreError;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_wire::handshake::{self, Refusal};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tracing::Instrument;

/// Checks origin, the address's connect rate, handshake and identity, then upgrades.
/// Refusals are plain HTTP errors: 403 origin, 429 rate, 400 handshake or name, 401
/// credentials.
pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    Query(params): Query<ConnectParams>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("\u{fffd}"));
    if !app.origin_allowed(origin) {
        return Err(ApiError::Forbidden("origin not allowed"));
    }
    let client = client_ip(&request, app.config.trust_proxy);
    if let Err(wait) = app.connect_limiter.check(client) {
        app.metrics.connects_refused.inc();
        tracing::debug!(client = ?client, "connect rate exceeded");
        return Err(ApiError::TooManyRequests(wait));
    }
    let headers = request.headers();
    let accept =
        handshake::accept(request.method(), request.version(), headers).map_err(refused)?;
    let bearer = crate::auth::bearer(headers);
    let identity = identify(
        app.store.as_ref(),
        &app.auth,
        &params,
        bearer,
        app.config.session_ttl,
    )
    .await
    .map_err(|err| match err {
        IdentityError::BadName(refusal) => {
            ApiError::BadRequest(format!("invalid name: {}", refusal.message))
        }
        IdentityError::Unauthorized(why) => ApiError::Unauthorized(why),
        IdentityError::Store(err) => ApiError::storage("cannot resolve session", err),
    })?;
    let lists = welcome_lists(&app, &identity)
        .await
        .map_err(|err| ApiError::storage("cannot list private rooms", err))?;
    let upgraded = hyper::upgrade::on(&mut request);
    let tracker = app.connections.clone();
    // With debug logging on, everything the connection logs names the client's address
    // (a disabled span costs nothing per connection).
    let span = match client {
        Some(client) => tracing::debug_span!("ws", %client),
        None => tracing::debug_span!("ws"),
    };
    // Boxed: the task keeps a pointer, not the values (see `connection::Start`).
    let start = Box::new(Start {
        app,
        identity,
        lists,
    });
    tokio::spawn(
        tracker.track_future(
            async move {
                let socket = match upgraded.await {
                    Ok(socket) => socket,
                    Err(err) => return tracing::debug!(error = %err, "upgrade failed"),
                };
                connection::run(Box::pin(TokioIo::new(socket)), start).await;
            }
            .instrument(span),
        ),
    );
    Ok(switching_protocols(&accept))
}

/// A returning user's private rooms and blocks; a fresh anonymous user has none, and
/// costs no query.
async fn welcome_lists(app: &AppState, identity: &Identity) -> Result<WelcomeLists, StoreError> {
    if !identity.stored {
        return Ok(WelcomeLists::default());
    }
    let user_id = &identity.user.id;
    Ok(WelcomeLists {
        rooms: app.store.private_rooms(user_id).await?,
        blocked: app.store.blocked_by(user_id).await?,
    })
}

fn refused(refusal: Refusal) -> ApiError {
    let message = refusal.message();
    if refusal.status() == StatusCode::UPGRADE_REQUIRED {
        ApiError::UpgradeRequired(message)
    } else {
        ApiError::BadRequest(message.to_owned())
    }
}

/// The `101 Switching Protocols` answer that completes the handshake.
fn switching_protocols(accept: &str) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
