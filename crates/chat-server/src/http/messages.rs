//! `GET /api/rooms/{room}/messages?before=&limit=`: page back through a public room.

use crate::state::AppState;
use crate::store::Page;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
struct PageBody {
    messages: Vec<Message>,
    more: bool,
}

pub async fn room_messages(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    match validate::room(&room) {
        Ok(kind) if !kind.is_private() => {}
        // Private rooms are not to be read without a member's socket: as if absent.
        Ok(_) => return (StatusCode::NOT_FOUND, "no such public room\n").into_response(),
        Err(refusal) => {
            return (StatusCode::BAD_REQUEST, format!("{}\n", refusal.message)).into_response();
        }
    }
    let limit = match validate::history_limit(query.limit) {
        Ok(limit) => limit,
        Err(refusal) => {
            return (StatusCode::BAD_REQUEST, format!("{}\n", refusal.message)).into_response();
        }
    };
    match app
        .store
        .before(&room, query.before.unwrap_or(u64::MAX), limit)
        .await
    {
        Ok(Page { messages, more }) => Json(PageBody { messages, more }).into_response(),
        Err(err) => {
            tracing::error!(error = %err, %room, "cannot page history");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
        }
    }
}
