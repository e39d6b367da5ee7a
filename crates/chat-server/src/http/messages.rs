//! `GET /api/rooms/{room}/messages?before=&limit=`: page back through a room. Public
//! rooms are open to all; a private room only to its members, who show who they are
//! with their session (`Authorization: Bearer <session>` or `?session=`) or, on a server
//! with a JWT secret, their token (`Authorization: Bearer <jwt>`). To anyone else a
//! private room answers as a room that does not exist.

use crate::api_error::ApiError;
use crate::auth::Credentials;
use crate::clock::now_ms;
use crate::identity::known_session;
use crate::state::AppState;
use crate::store::Page;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use chat_protocol::{Message, RoomKind, validate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Only messages with a smaller seq; absent means the newest.
    before: Option<u64>,
    /// 1-200, 50 when absent.
    limit: Option<u32>,
    /// A session token, for a private room (the header is preferred: URLs get logged).
    session: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PageBody {
    messages: Vec<Message>,
    more: bool,
}

pub async fn room_messages(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageBody>, ApiError> {
    let bad = |refusal: validate::Refusal| ApiError::BadRequest(refusal.message);
    may_read(&app, &room, &headers, query.session.as_deref()).await?;
    let limit = validate::history_limit(query.limit).map_err(bad)?;
    let Page { messages, more } = app
        .store
        .before(&room, query.before.unwrap_or(u64::MAX), limit)
        .await
        .map_err(|err| ApiError::storage(&format!("cannot page history of {room}"), err))?;
    Ok(Json(PageBody { messages, more }))
}

/// Refuses a room name that is invalid (400), and a private room to anyone who does not
/// show (header first, then `?session=`) that they are one of its members (404, as if
/// it did not exist).
pub(super) async fn may_read(
    app: &AppState,
    room: &str,
    headers: &HeaderMap,
    session: Option<&str>,
) -> Result<(), ApiError> {
    let kind = validate::room(room).map_err(|r| ApiError::BadRequest(r.message))?;
    if kind.is_private() {
        let session = crate::auth::bearer(headers).or(session);
        if !is_member(app, &kind, room, session).await? {
            return Err(ApiError::NotFound("no such room"));
        }
    }
    Ok(())
}

/// Whether the session belongs to a member of the private room.
async fn is_member(
    app: &AppState,
    kind: &RoomKind<'_>,
    room: &str,
    session: Option<&str>,
) -> Result<bool, ApiError> {
    let Some(token) = session else {
        return Ok(false);
    };
    let found = known_session(app.store.as_ref(), token, app.config.session_ttl)
        .await
        .map_err(|err| ApiError::storage("cannot resolve session", err))?;
    let user = match found.map(|s| s.user) {
        Some(user) => user,
        // Not a session: a JWT from a client that signs in with one (`Bearer <jwt>`).
        None => match app.auth.verify(
            Credentials {
                token: Some(token),
                tg: None,
            },
            now_ms() / 1000,
        ) {
            Ok(Some(verified)) => verified.user,
            Ok(None) | Err(_) => return Ok(false),
        },
    };
    Ok(match kind {
        RoomKind::Public => true,
        RoomKind::Direct { a, b } => *a == user.id || *b == user.id,
        RoomKind::Pair { .. } => app
            .store
            .pair(room)
            .await
            .map_err(|err| ApiError::storage("cannot look up the room", err))?
            .is_some_and(|pair| pair.seats_of(&user.id).is_some()),
    })
}
