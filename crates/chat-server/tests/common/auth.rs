//! Credentials for tests: JWTs signed with the test secret, and the rule by which the
//! behavioural suite runs with JWT users when anonymous users are refused.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The JWT secret of servers that refuse anonymous users in tests.
pub const TEST_JWT_SECRET: &str = "integration-tests-jwt-secret-of-32+bytes";
/// The bot token of servers with Telegram sign-in in tests.
pub const TEST_BOT_TOKEN: &str = "123456:integration-tests-bot-token";

pub fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// An HS256 token with `claims` signed with `secret`.
pub fn jwt_with(secret: &str, claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A token for `sub` named `name`, valid for an hour.
pub fn jwt(secret: &str, sub: &str, name: &str) -> String {
    jwt_with(
        secret,
        json!({"sub": sub, "name": name, "exp": unix_now() + 3600}),
    )
}

/// A user id no other test user has.
pub fn fresh_subject() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "jwt-{}-{}-{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// The upgrade query a test client sends. With a JWT secret (anonymous users refused),
/// a query that names no session or credential gets a token for a new user: what the
/// suite does as anonymous users it then does as signed-in ones.
pub fn with_credentials(query: &str, jwt_secret: Option<&str>) -> String {
    let Some(secret) = jwt_secret else {
        return query.to_owned();
    };
    let carries = ["session=", "token=", "tg="]
        .iter()
        .any(|key| query.contains(key));
    if carries {
        return query.to_owned();
    }
    let token = jwt(secret, &fresh_subject(), "Tester");
    if query.is_empty() {
        format!("?token={token}")
    } else {
        format!("{query}&token={token}")
    }
}
