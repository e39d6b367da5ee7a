//! Who a new connection is: a resumed session or a fresh anonymous user.
//!
//! Decided before the WebSocket upgrade, so a bad name is an HTTP 400 rather than a
//! socket that opens and closes at once.

use crate::clock::now_ms;
use crate::ids::random_token;
use crate::store::{Store, StoreError};
use chat_protocol::User;
use chat_protocol::validate::{self, Refusal};
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Query parameters of `GET /ws`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectParams {
    pub name: Option<String>,
    pub session: Option<String>,
    /// A JWT; honoured once the server is configured with a secret.
    pub token: Option<String>,
    /// Telegram Mini App `initData`; honoured once the server has a bot token.
    pub tg: Option<String>,
}

/// Why a connection was refused before the upgrade.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid name: {}", .0.message)]
    BadName(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user behind a connection and the session token that brings them back.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub session: String,
    /// Whether the session is in the store. A fresh anonymous session is stored only
    /// when the connection first joins a room (the frame handler does it), so
    /// handshakes that lead nowhere leave nothing behind.
    pub stored: bool,
}

/// A stored session used again is saved again (which moves its expiry) at most this
/// often, so a reconnecting client does not cost a write each time.
const REFRESH_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// Resolves the connecting user. A known, unexpired session keeps its user id; a `name`
/// given with it renames the user. An unknown, expired or missing session makes a fresh
/// anonymous user.
pub async fn identify(
    store: &dyn Store,
    params: &ConnectParams,
    session_ttl: Duration,
) -> Result<Identity, IdentityError> {
    let name = params
        .name
        .as_deref()
        .map(validate::display_name)
        .transpose()
        .map_err(IdentityError::BadName)?;
    let now = now_ms();
    let ttl_ms = i64::try_from(session_ttl.as_millis()).unwrap_or(i64::MAX);
    if let Some(token) = params.session.as_deref()
        && let Some(found) = store
            .load_session(token, now.saturating_sub(ttl_ms))
            .await?
    {
        let mut user = found.user;
        let renamed = name.as_deref().is_some_and(|name| name != user.name);
        if let Some(name) = name.filter(|_| renamed) {
            user.name = name;
        }
        if renamed || now - found.updated_ms > REFRESH_AFTER_MS {
            store.save_session(token, &user).await?;
        }
        return Ok(Identity {
            user,
            session: token.to_owned(),
            stored: true,
        });
    }
    let (user, session) = {
        let mut rng = rand::rng();
        let user = User {
            id: format!("u_{}", random_token(&mut rng, 16)),
            name: name.unwrap_or_else(|| format!("guest-{}", rng.random_range(1000..10000))),
        };
        (user, random_token(&mut rng, 32))
    };
    Ok(Identity {
        user,
        session,
        stored: false,
    })
}

/// Forgets expired sessions now and then every `every`, until `stop`.
pub async fn sweep_sessions(
    store: Arc<dyn Store>,
    session_ttl: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    let ttl_ms = i64::try_from(session_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.expire_sessions(now_ms().saturating_sub(ttl_ms)).await {
            Ok(0) => {}
            Ok(gone) => tracing::info!(gone, "expired sessions removed"),
            Err(err) => tracing::warn!(error = %err, "cannot remove expired sessions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_past_its_ttl_resumes_nothing() {
        let file = std::env::temp_dir().join(format!("chat-identity-{}.db", ulid::Ulid::new()));
        let store = crate::store::open(&format!("sqlite://{}", file.display()))
            .await
            .expect("store");
        let user = User {
            id: "u_kept".into(),
            name: "Kept".into(),
        };
        store.save_session("tok", &user).await.expect("saved");
        let saved = store
            .load_session("tok", 0)
            .await
            .expect("loaded")
            .expect("present")
            .updated_ms;
        // Wait for the wall clock (which the store reads) to pass a 1 ms ttl.
        while now_ms() <= saved + 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let params = ConnectParams {
            session: Some("tok".into()),
            ..ConnectParams::default()
        };
        let expired = identify(store.as_ref(), &params, Duration::from_millis(1))
            .await
            .expect("identified");
        assert_ne!(expired.user.id, user.id, "an expired session is a new user");
        assert!(!expired.stored);
        let kept = identify(store.as_ref(), &params, Duration::from_secs(3600))
            .await
            .expect("identified");
        assert_eq!((kept.user, kept.stored), (user, true));
        let _ = std::fs::remove_file(file);
    }
}
