//! `GET /api/rooms`: public rooms, most online first.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chat_protocol::{RoomSummary, validate};
use std::collections::HashMap;
use std::sync::Arc;

/// Rooms with people online or stored history; private rooms never appear.
pub async fn list_rooms(
    State(app): State<Arc<AppState>>,
) -> Result<Json<Vec<RoomSummary>>, ApiError> {
    let stats = app
        .store
        .room_stats()
        .await
        .map_err(|err| ApiError::storage("cannot list rooms", err))?;
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
    // With several nodes, the cluster's counts (this node's own while Redis is away).
    let cluster_counts = match &app.cluster {
        Some(cluster) => cluster.room_counts().await,
        None => None,
    };
    let presences = match cluster_counts {
        Some(counts) => counts,
        None => app.hub.presence(),
    };
    for presence in presences {
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
    Ok(Json(list))
}
