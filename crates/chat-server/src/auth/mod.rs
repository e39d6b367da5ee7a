//! Who may connect: the credentials a connection brings (a JWT, Telegram initData) and
//! whether anyone may come in without one.
//!
//! A credential for a mechanism the server is not configured for is ignored (a page
//! opened inside Telegram still works on a server without a bot token, as an anonymous
//! user); a credential for a configured mechanism that does not verify is refused, even
//! when anonymous users are allowed: whoever sent it meant to be someone, and must learn
//! that it did not work rather than silently become a guest.

pub mod jwt;

/// Telegram initData checks live in a crate of their own (pure, fuzzed on their own).
pub use chat_telegram as telegram;

use crate::config::{Config, given};
use crate::store::TelegramProfile;
use chat_protocol::{User, validate};
use jwt::JwtValidator;
use telegram::{TelegramUser, TelegramValidator};

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// A verified identity, from a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: User,
    /// For Telegram users: what is stored about them but never shown to others.
    pub telegram: Option<TelegramProfile>,
}

/// The credentials a connection presented.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// A JWT, from `token` or `Authorization: Bearer`.
    pub token: Option<&'a str>,
    /// Telegram initData.
    pub tg: Option<&'a str>,
}

/// The server's sign-in settings.
#[derive(Debug, Clone)]
pub struct Authenticator {
    jwt: Option<JwtValidator>,
    telegram: Option<TelegramValidator>,
    allow_anonymous: bool,
}

impl Authenticator {
    /// The settings of `config`; an empty secret or token counts as none.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let jwt = given(&config.jwt_secret)
            .map(|secret| JwtValidator::new(secret.as_bytes()))
            .transpose()
            .map_err(|err| anyhow::anyhow!("unusable --jwt-secret: {err}"))?;
        let telegram = given(&config.telegram_bot_token)
            .map(|token| TelegramValidator::new(token, config.telegram_max_age));
        let allow_anonymous = config
            .allow_anonymous
            .unwrap_or(jwt.is_none() && telegram.is_none());
        Ok(Authenticator {
            jwt,
            telegram,
            allow_anonymous,
        })
    }

    /// Whether a connection with no credential and no known session gets a fresh
    /// anonymous identity (otherwise: 401).
    pub fn allows_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    /// The 401 body for a connection that brought nothing.
    pub fn missing(&self) -> &'static str {
        match (&self.jwt, &self.telegram) {
            (Some(_), Some(_)) => "sign-in required: send a token or Telegram initData",
            (Some(_), None) => "sign-in required: send a token",
            (None, Some(_)) => "sign-in required: open the app from Telegram",
            (None, None) => "sign-in required: anonymous users are not allowed here",
        }
    }

    /// Checks what a connection presented, at `now` (Unix seconds). `Ok(None)`: nothing
    /// the server is configured to check. Telegram initData is tried first when both
    /// arrive (the Mini App sends only that; a token beside it is a leftover).
    pub fn verify(
        &self,
        credentials: Credentials<'_>,
        now: i64,
    ) -> Result<Option<Verified>, String> {
        if let (Some(validator), Some(init_data)) = (&self.telegram, credentials.tg) {
            let data = validator
                .validate(init_data, now)
                .map_err(|why| why.to_string())?;
            return Ok(Some(telegram_identity(data.user)));
        }
        if let (Some(validator), Some(token)) = (&self.jwt, credentials.token) {
            let user = validator.validate(token).map_err(|why| why.to_string())?;
            return Ok(Some(Verified {
                user,
                telegram: None,
            }));
        }
        Ok(None)
    }
}

/// `tg_<id>`, named by the first and last name, else the first name alone, else the
/// username, else `tg-<id>`: the first of those that is a valid display name once cut to
/// its length limit. A Telegram user is never refused for a name we cannot show.
fn telegram_identity(user: TelegramUser) -> Verified {
    let TelegramUser {
        id,
        first_name,
        last_name,
        username,
        photo_url,
    } = user;
    let full = match (&first_name, &last_name) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        _ => None,
    };
    let name = [full, first_name, username.clone()]
        .into_iter()
        .flatten()
        .find_map(|candidate| {
            let cut: String = candidate
                .trim()
                .chars()
                .take(validate::MAX_NAME_CHARS)
                .collect();
            validate::display_name(&cut).ok()
        })
        .unwrap_or_else(|| format!("tg-{id}"));
    Verified {
        user: User {
            id: format!("tg_{id}"),
            name,
        },
        telegram: Some(TelegramProfile {
            telegram_id: id,
            username,
            photo_url,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg(first: Option<&str>, last: Option<&str>, username: Option<&str>) -> Verified {
        telegram_identity(TelegramUser {
            id: 7,
            first_name: first.map(Into::into),
            last_name: last.map(Into::into),
            username: username.map(Into::into),
            photo_url: Some("https://t.me/p.svg".into()),
        })
    }

    #[test]
    fn telegram_names_come_from_first_and_last_name_then_username() {
        assert_eq!(
            tg(Some("Ada"), Some("Lovelace"), Some("ada")).user.name,
            "Ada Lovelace"
        );
        assert_eq!(tg(Some("Ada"), None, Some("ada")).user.name, "Ada");
        assert_eq!(tg(None, None, Some("ada")).user.name, "ada");
        assert_eq!(tg(None, None, None).user.name, "tg-7");
        let verified = tg(Some("Ada"), None, Some("ada"));
        assert_eq!(verified.user.id, "tg_7");
        assert_eq!(
            verified.telegram,
            Some(TelegramProfile {
                telegram_id: 7,
                username: Some("ada".into()),
                photo_url: Some("https://t.me/p.svg".into()),
            })
        );
    }

    #[test]
    fn telegram_names_that_cannot_be_shown_fall_back() {
        let long = "W".repeat(64);
        assert_eq!(
            tg(Some(&long), None, None).user.name.chars().count(),
            validate::MAX_NAME_CHARS
        );
        assert_eq!(tg(Some("\u{200b}"), None, Some("zed")).user.name, "zed");
    }
}
