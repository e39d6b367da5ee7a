//! `GET /healthz`: 200 when the server and its storage answer (`degraded` when a node of
//! several cannot reach Redis), 503 otherwise.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A storage that does not answer within this is as good as down.
const STORAGE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz(State(app): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    match tokio::time::timeout(STORAGE_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => match &app.cluster {
            // Redis away: messages are still stored and delivered here, and the other
            // nodes catch up when it is back. Serving, but worth a look.
            Some(cluster) if !cluster.health.is_up() => (
                StatusCode::OK,
                Json(json!({"status": "degraded", "redis": "down"})),
            ),
            Some(_) => (StatusCode::OK, Json(json!({"status": "ok", "redis": "up"}))),
            None => (StatusCode::OK, Json(json!({"status": "ok"}))),
        },
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: storage failed");
            unavailable(&err.to_string())
        }
        Err(_) => unavailable("storage did not answer in time"),
    }
}

fn unavailable(why: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "reason": why})),
    )
}
