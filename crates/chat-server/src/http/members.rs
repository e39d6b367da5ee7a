//! `GET /api/rooms/{room}/members?after=<user id>&limit=`: who is online in a room, a
//! page at a time in user id order. A big room's `joined` lists only its first members;
//! this is how a client shows the rest. Who may ask is as for the room's messages:
//! anyone for a public room, only its members for a private one (to anyone else it
//! answers as a room that does not exist). In an anonymous pair the members are the
//! aliases, as everywhere there.

use super::messages::may_read;
use crate::api_error::ApiError;
use crate::hub::MemberPage;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use chat_protocol::{User, validate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    /// Only members whose id sorts after this one; absent means from the first.
    after: Option<String>,
    /// 1-100, 100 when absent.
    limit: Option<u32>,
    /// A session token, for a private room (the header is preferred: URLs get logged).
    session: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MembersBody {
    members: Vec<User>,
    /// Everyone online in the room, wherever.
    online: u32,
    /// Members with greater ids exist: ask again with `after` the last id here.
    more: bool,
}

pub async fn room_members(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    Query(query): Query<MembersQuery>,
) -> Result<Json<MembersBody>, ApiError> {
    let bad = |refusal: validate::Refusal| ApiError::BadRequest(refusal.message);
    may_read(&app, &room, &headers, query.session.as_deref()).await?;
    let limit = validate::members_limit(query.limit).map_err(bad)?;
    let after = query.after.as_deref();
    let from_cluster = match &app.cluster {
        Some(cluster) => cluster.member_page(&room, after, limit).await,
        None => None,
    };
    // On one node, or while Redis is away, this node's own members are the answer.
    let MemberPage {
        members,
        online,
        more,
    } = from_cluster.unwrap_or_else(|| app.hub.member_page(&room, after, limit));
    Ok(Json(MembersBody {
        members,
        online,
        more,
    }))
}
