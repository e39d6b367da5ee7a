//! `POST /telegram/webhook`: Telegram's updates for the bot. Only with the webhook
//! secret (401 otherwise, and nothing happens); answered 200 at once, the work done off
//! the request, so that Telegram never waits on us (and never retries because it did).

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// The header Telegram sends the secret in (`setWebhook`'s `secret_token`).
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub async fn telegram_webhook(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(bot) = app.bot.clone() else {
        return Err(ApiError::NotFound("no Telegram bot is configured"));
    };
    let secret = headers.get(SECRET_HEADER).map(|value| value.as_bytes());
    if !bot.is_from_telegram(secret) {
        return Err(ApiError::Unauthorized(
            "a valid X-Telegram-Bot-Api-Secret-Token is required".to_owned(),
        ));
    }
    match serde_json::from_slice(&body) {
        Ok(update) => {
            tokio::spawn(async move { bot.handle(update).await });
        }
        // Answered 200 all the same: Telegram would send a malformed update again and
        // again otherwise.
        Err(err) => tracing::warn!(error = %err, "Telegram sent an update that is not JSON"),
    }
    Ok(StatusCode::OK)
}
