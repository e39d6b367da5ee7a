//! Who a new connection is: a resumed session or a fresh anonymous user.
//!
//! Decided before the WebSocket upgrade, so a bad name is an HTTP 400 rather than a
//! socket that opens and closes at once.

use crate::store::{Store, StoreError};
use chat_protocol::User;
use chat_protocol::validate::{self, Refusal};
use rand::Rng;
use serde::Deserialize;

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
}

/// Resolves the connecting user. A known session keeps its user id; a `name` given with
/// it renames the user. An unknown or missing session makes a fresh anonymous user.
pub async fn identify(
    store: &dyn Store,
    params: &ConnectParams,
) -> Result<Identity, IdentityError> {
    let name = params
        .name
        .as_deref()
        .map(validate::display_name)
        .transpose()
        .map_err(IdentityError::BadName)?;
    if let Some(token) = params.session.as_deref()
        && let Some(mut user) = store.load_session(token).await?
    {
        if let Some(name) = name
            && name != user.name
        {
            user.name = name.to_owned();
            store.save_session(token, &user).await?;
        }
        return Ok(Identity {
            user,
            session: token.to_owned(),
        });
    }
    let (user, session) = {
        let mut rng = rand::rng();
        let user = User {
            id: format!("u_{}", random_token(&mut rng, 16)),
            name: name.map_or_else(
                || format!("guest-{}", rng.random_range(1000..10000)),
                str::to_owned,
            ),
        };
        (user, random_token(&mut rng, 32))
    };
    store.save_session(&session, &user).await?;
    Ok(Identity { user, session })
}

/// `len` characters of lowercase base-32, about 5 random bits each.
fn random_token(rng: &mut impl Rng, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
