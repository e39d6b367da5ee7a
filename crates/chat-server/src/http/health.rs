//! `GET /healthz`: 200 when the server and its storage answer, 503 otherwise.

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
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "ok"}))),
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
