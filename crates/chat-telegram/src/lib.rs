//! Telegram Mini App `initData`: checking that Telegram signed it, and reading the user.
//! The chat server's Telegram sign-in; a crate of its own so that it is fuzzed alone
//! (`fuzz/fuzz_targets/init_data.rs`).
//!
//! The rules (Telegram's "Validating data received via the Mini App"): the secret key is
//! HMAC-SHA256 of the bot token under the key `WebAppData`; `hash` is the hex
//! HMAC-SHA256, under that key, of every *other* received field, URL-decoded once,
//! sorted by key and joined as `key=value` lines. Public validators get three things
//! wrong, and this one is written against them:
//! - it never re-serializes `user` before checking: the string Telegram signed is the
//!   string that arrived, with its `\/` escapes and its unicode exactly as sent;
//! - it keeps `signature` (the Ed25519 signature newer clients add) in the check string;
//! - it hard-codes no list of fields: whatever Telegram adds tomorrow is covered.
//!
//! Pure: no clock (the caller passes `now`), no I/O, no panics on any input.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// How far in the future `auth_date` may lie: Telegram's clock and ours disagree a little.
const FUTURE_SKEW_SECS: i64 = 300;

/// The `user` field of initData, as Telegram describes `WebAppUser`; unknown fields are
/// ignored (they are covered by the signature all the same).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TelegramUser {
    pub id: i64,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub photo_url: Option<String>,
}

/// Verified launch data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitData {
    pub user: TelegramUser,
    /// Unix seconds at which Telegram issued the data.
    pub auth_date: i64,
}

/// Why initData was refused. The `Display` text is the 401 body, so it says what is wrong
/// without echoing anything back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramRefusal {
    #[error("Telegram sign-in: initData is missing")]
    Missing,
    #[error("Telegram sign-in: initData is malformed ({0})")]
    Malformed(&'static str),
    #[error("Telegram sign-in: initData has no hash")]
    NoHash,
    #[error("Telegram sign-in: initData repeats a field")]
    DuplicateField,
    #[error("Telegram sign-in: bad signature")]
    BadSignature,
    #[error("Telegram sign-in: initData has expired; reopen the app")]
    Expired,
    #[error("Telegram sign-in: initData is dated in the future")]
    FromTheFuture,
    #[error("Telegram sign-in: initData carries no user")]
    NoUser,
}

/// Checks initData for one bot.
#[derive(Clone)]
pub struct TelegramValidator {
    secret_key: [u8; 32],
    max_age_secs: i64,
}

impl std::fmt::Debug for TelegramValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The derived key signs sessions as well as the token does: never print it.
        f.debug_struct("TelegramValidator")
            .field("max_age_secs", &self.max_age_secs)
            .finish_non_exhaustive()
    }
}

impl TelegramValidator {
    /// A validator for the bot with this token, accepting data up to `max_age` old.
    pub fn new(bot_token: &str, max_age: Duration) -> Self {
        let mut mac = new_mac(b"WebAppData");
        mac.update(bot_token.as_bytes());
        TelegramValidator {
            secret_key: mac.finalize().into_bytes().into(),
            max_age_secs: i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Verifies `init_data` (the raw `Telegram.WebApp.initData` string) at `now` (Unix
    /// seconds) and returns what it says. The signature is checked before anything in
    /// the data is believed.
    pub fn validate(&self, init_data: &str, now: i64) -> Result<InitData, TelegramRefusal> {
        if init_data.is_empty() {
            return Err(TelegramRefusal::Missing);
        }
        let mut fields = decode_fields(init_data)?;
        let hash = fields.remove("hash").ok_or(TelegramRefusal::NoHash)?;
        let hash = hex::decode(hash.as_bytes())
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or(TelegramRefusal::Malformed("hash is not 64 hex digits"))?;
        let mut mac = new_mac(&self.secret_key);
        mac.update(data_check_string(&fields).as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&hash)
            .map_err(|_| TelegramRefusal::BadSignature)?;

        let auth_date = fields
            .get("auth_date")
            .ok_or(TelegramRefusal::Malformed("no auth_date"))?
            .parse::<i64>()
            .map_err(|_| TelegramRefusal::Malformed("auth_date is not a number"))?;
        if now.saturating_sub(auth_date) > self.max_age_secs {
            return Err(TelegramRefusal::Expired);
        }
        if auth_date.saturating_sub(now) > FUTURE_SKEW_SECS {
            return Err(TelegramRefusal::FromTheFuture);
        }
        let user = fields.get("user").ok_or(TelegramRefusal::NoUser)?;
        let user = serde_json::from_str::<TelegramUser>(user)
            .map_err(|_| TelegramRefusal::Malformed("user is not a Telegram user object"))?;
        Ok(InitData { user, auth_date })
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

/// Splits `a=1&b=2` and URL-decodes every key and value once (`+` is a space, as in the
/// form encoding Telegram's own script reads), refusing a repeated key: with two `user`
/// fields, which one was signed is anybody's guess.
fn decode_fields(init_data: &str) -> Result<BTreeMap<String, String>, TelegramRefusal> {
    let mut fields = BTreeMap::new();
    for pair in init_data.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or(TelegramRefusal::Malformed("a field has no value"))?;
        let key = url_decode(key)?;
        if key.is_empty() {
            return Err(TelegramRefusal::Malformed("a field has no name"));
        }
        if fields.insert(key, url_decode(value)?).is_some() {
            return Err(TelegramRefusal::DuplicateField);
        }
    }
    Ok(fields)
}

fn url_decode(raw: &str) -> Result<String, TelegramRefusal> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| TelegramRefusal::Malformed("a field is not UTF-8"))
}

/// The fields (already without `hash`) sorted by key, as `key=value` lines.
fn data_check_string(fields: &BTreeMap<String, String>) -> String {
    let mut check = String::new();
    for (key, value) in fields {
        if !check.is_empty() {
            check.push('\n');
        }
        check.push_str(key);
        check.push('=');
        check.push_str(value);
    }
    check
}

/// `value` URL-encoded as JavaScript's `encodeURIComponent` leaves only letters, digits
/// and `-_.~` (and `!*'()`, which this encodes too): how a value goes into initData, and
/// how initData goes into a URL.
pub fn url_encode(value: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, KEEP).to_string()
}

/// Signs `fields` as Telegram would for the bot with `bot_token`, returning the initData
/// string (fields URL-encoded in the given order, then `hash`). For tests and for local
/// development without Telegram: it is what the Telegram client hands a Mini App.
pub fn sign_init_data(bot_token: &str, fields: &[(&str, &str)]) -> String {
    let sorted: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let validator = TelegramValidator::new(bot_token, Duration::ZERO);
    let mut mac = new_mac(&validator.secret_key);
    mac.update(data_check_string(&sorted).as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    let mut out = String::new();
    for (key, value) in fields {
        out.push_str(&url_encode(key));
        out.push('=');
        out.push_str(&url_encode(value));
        out.push('&');
    }
    out.push_str("hash=");
    out.push_str(&hash);
    out
}

#[cfg(test)]
mod tests;
