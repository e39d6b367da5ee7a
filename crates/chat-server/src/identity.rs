//! Who a new connection is: a signed-in user (JWT, Telegram), a resumed session, or a
//! fresh anonymous user.
//!
//! Decided before the WebSocket upgrade, so a bad name is an HTTP 400 and a refused
//! credential an HTTP 401, rather than a socket that opens and closes at once.

use crate::auth::{Authenticator, Credentials, Verified};
use crate::clock::now_ms;
use crate::ids::random_token;
use crate::store::{Store, StoreError, StoredSession};
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
    /// A JWT, checked when the server has a secret.
    pub token: Option<String>,
    /// Telegram Mini App `initData`, checked when the server has a bot token.
    pub tg: Option<String>,
}

/// Why a connection was refused before the upgrade.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid name: {}", .0.message)]
    BadName(Refusal),
    /// A credential did not verify, or none was given where one is required; the text
    /// says which, for the 401 body.
    #[error("{0}")]
    Unauthorized(String),
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
    /// handshakes that lead nowhere leave nothing behind. A signed-in user's is stored
    /// at once: that user may have conversations from another device to list.
    pub stored: bool,
}

/// The stored session behind `token`, if it is known and not past `session_ttl`.
pub async fn known_session(
    store: &dyn Store,
    token: &str,
    session_ttl: Duration,
) -> Result<Option<StoredSession>, StoreError> {
    let ttl_ms = i64::try_from(session_ttl.as_millis()).unwrap_or(i64::MAX);
    store
        .load_session(token, now_ms().saturating_sub(ttl_ms))
        .await
}

/// A stored session used again is saved again (which moves its expiry) at most this
/// often, so a reconnecting client does not cost a write each time.
const REFRESH_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// Resolves the connecting user.
///
/// - A credential (`tg`, or a JWT in `token` or `bearer`) that verifies decides the
///   user id; one that does not is refused. The session given with it is kept when it
///   belongs to the same user, else a new one is issued.
/// - Otherwise a known, unexpired `session` brings its user back.
/// - Otherwise a fresh anonymous user, if the server allows them; if not, refused.
///
/// The name: `name` when given (the person's own choice, validated), else the name the
/// resumed session has (a rename made in the app sticks), else the credential's.
pub async fn identify(
    store: &dyn Store,
    auth: &Authenticator,
    params: &ConnectParams,
    bearer: Option<&str>,
    session_ttl: Duration,
) -> Result<Identity, IdentityError> {
    let name = params
        .name
        .as_deref()
        .map(validate::display_name)
        .transpose()
        .map_err(IdentityError::BadName)?;
    let credentials = Credentials {
        token: params.token.as_deref().or(bearer),
        tg: params.tg.as_deref(),
    };
    let now = now_ms();
    let verified = auth
        .verify(credentials, now / 1000)
        .map_err(IdentityError::Unauthorized)?;
    let resumed = match params.session.as_deref() {
        Some(token) => known_session(store, token, session_ttl)
            .await?
            .map(|found| (token, found)),
        None => None,
    };
    match (verified, resumed) {
        (Some(verified), resumed) => signed_in(store, verified, name, resumed, now).await,
        (None, Some((token, found))) => resume(store, token, found, name, now).await,
        (None, None) if auth.allows_anonymous() => Ok(anonymous(name)),
        (None, None) => Err(IdentityError::Unauthorized(auth.missing().to_owned())),
    }
}

/// A verified user: their stored session when they brought one, else a new one, stored
/// now together with what Telegram told about them.
async fn signed_in(
    store: &dyn Store,
    verified: Verified,
    name: Option<String>,
    resumed: Option<(&str, StoredSession)>,
    now: i64,
) -> Result<Identity, IdentityError> {
    let Verified { mut user, telegram } = verified;
    let own = resumed.filter(|(_, found)| found.user.id == user.id);
    let (session, needs_saving) = match own {
        Some((token, found)) => {
            user.name = name.unwrap_or(found.user.name.clone());
            let changed = user.name != found.user.name;
            (
                token.to_owned(),
                changed || now - found.updated_ms > REFRESH_AFTER_MS,
            )
        }
        None => {
            if let Some(name) = name {
                user.name = name;
            }
            (random_token(&mut rand::rng(), 32), true)
        }
    };
    if needs_saving {
        store.save_session(&session, &user).await?;
        if let Some(profile) = &telegram {
            store.save_telegram_profile(&user.id, profile).await?;
        }
    }
    Ok(Identity {
        user,
        session,
        stored: true,
    })
}

/// A known session: its user, renamed when `name` says so.
async fn resume(
    store: &dyn Store,
    token: &str,
    found: StoredSession,
    name: Option<String>,
    now: i64,
) -> Result<Identity, IdentityError> {
    let mut user = found.user;
    let renamed = name.as_deref().is_some_and(|name| name != user.name);
    if let Some(name) = name.filter(|_| renamed) {
        user.name = name;
    }
    if renamed || now - found.updated_ms > REFRESH_AFTER_MS {
        store.save_session(token, &user).await?;
    }
    Ok(Identity {
        user,
        session: token.to_owned(),
        stored: true,
    })
}

/// A new anonymous user with a random id, not stored yet.
fn anonymous(name: Option<String>) -> Identity {
    let mut rng = rand::rng();
    let user = User {
        id: format!("u_{}", random_token(&mut rng, 16)),
        name: name.unwrap_or_else(|| format!("guest-{}", rng.random_range(1000..10000))),
    };
    Identity {
        user,
        session: random_token(&mut rng, 32),
        stored: false,
    }
}

/// Forgets expired sessions every `every`, the first time one period after start, until
/// `stop`.
pub async fn sweep_sessions(
    store: Arc<dyn Store>,
    session_ttl: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    let ttl_ms = i64::try_from(session_ttl.as_millis()).unwrap_or(i64::MAX);
    // The first sweep waits a period too (an expired session resumes nothing anyway):
    // at start-up it would hold the store's one open connection just when the first
    // requests arrive, and a server started at its file limit could not open another.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
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
        let auth = Authenticator::from_config(&crate::config::Config::defaults()).expect("auth");
        let expired = identify(
            store.as_ref(),
            &auth,
            &params,
            None,
            Duration::from_millis(1),
        )
        .await
        .expect("identified");
        assert_ne!(expired.user.id, user.id, "an expired session is a new user");
        assert!(!expired.stored);
        let kept = identify(
            store.as_ref(),
            &auth,
            &params,
            None,
            Duration::from_secs(3600),
        )
        .await
        .expect("identified");
        assert_eq!((kept.user, kept.stored), (user, true));
        let _ = std::fs::remove_file(file);
    }
}
