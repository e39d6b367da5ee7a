//! Sign-in with a JWT (HS256) issued by the deployment's own identity service.
//!
//! The token is checked once, at connect time: a socket whose token expires later stays
//! open (reconnecting needs a fresh token, or the `session` the welcome gave).

use chat_protocol::User;
use chat_protocol::validate;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Clock skew tolerated on `exp` (and `nbf`), in seconds.
const LEEWAY_SECS: u64 = 60;

/// User-id prefixes the server gives out itself (anonymous users, Telegram users, pair
/// aliases). A token may not claim one: it would take over that user's conversations.
pub const RESERVED_ID_PREFIXES: [&str; 3] = ["u_", "tg_", "anon_"];

/// The claims the server reads; others are ignored. `name` is required like `sub` and
/// `exp`: a token without it is malformed rather than a nameless user.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    name: String,
}

/// Why a token was refused; the `Display` text is the 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    #[error("token: malformed ({0})")]
    Malformed(&'static str),
    #[error("token: expired")]
    Expired,
    #[error("token: not valid yet")]
    NotYetValid,
    #[error("token: bad signature")]
    BadSignature,
    #[error("token: sub is not a valid user id: {0}")]
    BadSubject(String),
    #[error("token: name is not a valid display name: {0}")]
    BadName(String),
}

/// Checks tokens signed with one shared secret.
#[derive(Clone)]
pub struct JwtValidator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator").finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// Fails for a secret the JWT library refuses (an empty one).
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // No audience is configured, so none is checked: a token an identity service
        // issued with `aud` (most do) is as good as one without.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(JwtValidator {
            key: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// The user a token names, if its signature, expiry and claims hold.
    pub fn validate(&self, token: &str) -> Result<User, JwtRefusal> {
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|err| refusal(err.kind()))?;
        let Claims { sub, name } = data.claims;
        validate::user_id(&sub).map_err(|why| JwtRefusal::BadSubject(why.message))?;
        if let Some(prefix) = RESERVED_ID_PREFIXES.iter().find(|p| sub.starts_with(**p)) {
            return Err(JwtRefusal::BadSubject(format!(
                "ids starting with {prefix} are the server's own"
            )));
        }
        let name = validate::display_name(&name).map_err(|why| JwtRefusal::BadName(why.message))?;
        Ok(User { id: sub, name })
    }
}

fn refusal(kind: &ErrorKind) -> JwtRefusal {
    match kind {
        ErrorKind::ExpiredSignature => JwtRefusal::Expired,
        ErrorKind::ImmatureSignature => JwtRefusal::NotYetValid,
        ErrorKind::InvalidSignature => JwtRefusal::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            JwtRefusal::Malformed("only HS256 is accepted")
        }
        ErrorKind::MissingRequiredClaim(_) => {
            JwtRefusal::Malformed("sub, name and exp are required")
        }
        ErrorKind::Json(_) => JwtRefusal::Malformed("sub, name and exp are required"),
        _ => JwtRefusal::Malformed("not a JWT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"a-test-secret-of-thirty-two-bytes!";

    fn now() -> i64 {
        crate::clock::now_ms() / 1000
    }

    fn token(claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("encoded")
    }

    fn validator() -> JwtValidator {
        JwtValidator::new(SECRET).expect("validator")
    }

    fn check(claims: serde_json::Value) -> Result<User, JwtRefusal> {
        validator().validate(&token(claims))
    }

    #[test]
    fn a_valid_token_names_the_user() {
        let user = check(json!({"sub": "alice", "name": "  Alice ", "exp": now() + 60}));
        assert_eq!(
            user,
            Ok(User {
                id: "alice".into(),
                name: "Alice".into()
            })
        );
    }

    #[test]
    fn claims_beyond_sub_name_and_exp_are_ignored() {
        let user = check(json!({
            "sub": "alice", "name": "Alice", "exp": now() + 60,
            "aud": "some-service", "iss": "https://id.example", "iat": now(), "role": "admin"
        }));
        assert_eq!(user.map(|u| u.id), Ok("alice".to_owned()));
    }

    #[test]
    fn expiry_has_a_small_leeway_and_no_more() {
        assert!(check(json!({"sub": "a", "name": "A", "exp": now() - 30})).is_ok());
        assert_eq!(
            check(json!({"sub": "a", "name": "A", "exp": now() - 120})),
            Err(JwtRefusal::Expired)
        );
        assert_eq!(
            check(json!({"sub": "a", "name": "A", "exp": now() + 600, "nbf": now() + 300})),
            Err(JwtRefusal::NotYetValid)
        );
    }

    #[test]
    fn another_secret_is_a_bad_signature() {
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "a", "name": "A", "exp": now() + 60}),
            &EncodingKey::from_secret(b"another secret").expect("key"),
        )
        .expect("encoded");
        assert_eq!(validator().validate(&other), Err(JwtRefusal::BadSignature));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub": "a", "name": "A", "exp": now() + 60}),
            &EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("encoded");
        assert_eq!(
            validator().validate(&hs512),
            Err(JwtRefusal::Malformed("only HS256 is accepted"))
        );
        // `alg: none` with no signature at all.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwibmFtZSI6IkEiLCJleHAiOjk5OTk5OTk5OTl9.";
        assert!(matches!(
            validator().validate(none),
            Err(JwtRefusal::Malformed(_))
        ));
    }

    #[test]
    fn missing_claims_are_malformed() {
        for claims in [
            json!({"name": "A", "exp": now() + 60}),
            json!({"sub": "a", "exp": now() + 60}),
            json!({"sub": "a", "name": "A"}),
        ] {
            assert_eq!(
                check(claims.clone()),
                Err(JwtRefusal::Malformed("sub, name and exp are required")),
                "{claims}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for garbage in ["", "abc", "a.b.c", "🙂.🙂.🙂"] {
            assert_eq!(
                validator().validate(garbage),
                Err(JwtRefusal::Malformed("not a JWT")),
                "{garbage}"
            );
        }
    }

    #[test]
    fn bad_subjects_and_names_are_refused() {
        for sub in [
            "",
            "has space",
            "~dm.a.b",
            "u_lookslikeanonymous",
            "tg_42",
            "anon_x",
        ] {
            assert!(
                matches!(
                    check(json!({"sub": sub, "name": "A", "exp": now() + 60})),
                    Err(JwtRefusal::BadSubject(_))
                ),
                "{sub}"
            );
        }
        assert!(matches!(
            check(json!({"sub": "a", "name": "\u{202e}", "exp": now() + 60})),
            Err(JwtRefusal::BadName(_))
        ));
    }
}
