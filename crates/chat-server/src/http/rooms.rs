//! `GET /api/rooms`: public rooms, most online first.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chat_protocol::{RoomSummary, validate};
use std::collections::HashMap;
use std::sync::Arc;

/// Rooms with people online or stored history; private rooms never appear.
pub async fn list_rooms(State(app): State<Arc<AppState>>) -> Response {
    let stats = match app.store.room_stats().await {
        Ok(stats) => stats,
        Err(err) => {
            tracing::error!(error = %err, "cannot list rooms");
            return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response();
        }
    };
    let mut rooms: HashMap<String, RoomSummary> = stats
        .into_iter()
        .map(|s| {
            let summary = RoomSummary {
                room: s.room.clone(),
                online: 0,
                last_seq: s.last_seq,
                last_ts: Some(s.last_ts),
            };
            (s.room, summary)
        })
        .collect();
    for presence in app.hub.presence() {
        rooms
            .entry(presence.room.clone())
            .or_insert_with(|| RoomSummary {
                room: presence.room,
                online: 0,
                last_seq: 0,
                last_ts: None,
            })
            .online = presence.online;
    }
    let mut list: Vec<RoomSummary> = rooms
        .into_values()
        .filter(|r| validate::room(&r.room).is_ok_and(|kind| !kind.is_private()))
        .collect();
    list.sort_by(|a, b| {
        b.online
            .cmp(&a.online)
            .then_with(|| b.last_ts.cmp(&a.last_ts))
            .then_with(|| a.room.cmp(&b.room))
    });
    Json(list).into_response()
}
