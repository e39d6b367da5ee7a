//! `GET /api/admin/reports`: what users reported, for the moderators.

use crate::api_error::ApiError;
use crate::state::AppState;
use crate::store::Report;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Most reports one request returns.
const MAX_LIMIT: usize = 500;

#[derive(Debug, Deserialize)]
pub struct ReportsQuery {
    /// 1-500, 100 when absent.
    limit: Option<usize>,
}

/// The newest reports first, with real identities. Needs `Authorization: Bearer
/// <admin token>`; without a configured token the route answers as if it did not exist.
pub async fn admin_reports(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<ReportsQuery>,
) -> Result<Json<Vec<Report>>, ApiError> {
    // An empty token (`CHAT_ADMIN_TOKEN=`) is no token: it would let in a request that
    // sends none.
    let Some(expected) = crate::config::given(&app.config.admin_token) else {
        return Err(ApiError::NotFound("no such route"));
    };
    let given = crate::auth::bearer(&headers).unwrap_or_default();
    // Constant time: how much of a guess was right must not show in the response time.
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::Unauthorized(
            "a valid admin token is required".to_owned(),
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} is outside 1-{MAX_LIMIT}"
        )));
    }
    let reports = app
        .store
        .reports(limit)
        .await
        .map_err(|err| ApiError::storage("cannot read reports", err))?;
    Ok(Json(reports))
}
