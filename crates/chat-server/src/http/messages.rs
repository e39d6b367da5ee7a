//! `GET /api/rooms/{room}/messages?before=&limit=`: page back through a public room.

use crate::api_error::ApiError;
use crate::state::AppState;
use crate::store::Page;
use axum::Json;
use axum::extract::{Path, Query, State};
use chat_protocol::{Message, validate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Only messages with a smaller seq; absent means the newest.
    before: Option<u64>,
    /// 1-200, 50 when absent.
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct PageBody {
    messages: Vec<Message>,
    more: bool,
}

pub async fn room_messages(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<PageBody>, ApiError> {
    let bad = |refusal: validate::Refusal| ApiError::BadRequest(refusal.message);
    if validate::room(&room).map_err(bad)?.is_private() {
        // Private rooms are not to be read without a member's socket: as if absent.
        return Err(ApiError::NotFound("no such public room"));
    }
    let limit = validate::history_limit(query.limit).map_err(bad)?;
    let Page { messages, more } = app
        .store
        .before(&room, query.before.unwrap_or(u64::MAX), limit)
        .await
        .map_err(|err| ApiError::storage(&format!("cannot page history of {room}"), err))?;
    Ok(Json(PageBody { messages, more }))
}
