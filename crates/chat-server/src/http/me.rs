//! `GET /api/me`: whom the given credentials name, or why they name no one.
//!
//! A browser cannot read the status or body of a refused WebSocket upgrade (it only
//! sees the socket close), so the app asks here when its first connection fails, and
//! can tell a person "this Telegram sign-in has expired" instead of retrying forever.
//! It changes nothing: no session is created or refreshed.

use crate::api_error::ApiError;
use crate::auth::Credentials;
use crate::clock::now_ms;
use crate::identity::{ConnectParams, known_session};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chat_protocol::User;
use std::sync::Arc;

pub async fn me(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<ConnectParams>,
) -> Result<Json<User>, ApiError> {
    let bearer = crate::auth::bearer(&headers);
    let credentials = Credentials {
        token: params.token.as_deref().or(bearer),
        tg: params.tg.as_deref(),
    };
    let now = now_ms();
    if let Some(verified) = app
        .auth
        .verify(credentials, now / 1000)
        .map_err(ApiError::Unauthorized)?
    {
        return Ok(Json(verified.user));
    }
    if let Some(session) = params.session.as_deref() {
        let found = known_session(app.store.as_ref(), session, app.config.session_ttl)
            .await
            .map_err(|err| ApiError::storage("cannot resolve session", err))?;
        if let Some(found) = found {
            return Ok(Json(found.user));
        }
    }
    Err(ApiError::Unauthorized(if app.auth.allows_anonymous() {
        "no credential given".to_owned()
    } else {
        app.auth.missing().to_owned()
    }))
}
