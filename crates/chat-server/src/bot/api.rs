//! The few Bot API methods the server calls, over HTTPS (reqwest with rustls), and what
//! their answers mean for a retry.

use serde_json::Value;
use std::time::Duration;

/// How long one call may take before it counts as failed (and is retried).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call did not succeed, as the retry policy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// `429`: Telegram asks to wait this long.
    RetryAfter(Duration),
    /// The user blocked the bot, never started it, or the chat does not exist: trying
    /// again cannot help, and the user should not be tried again.
    Unreachable(String),
    /// Another refusal (a `4xx`): the call is wrong, retrying cannot help.
    Refused(String),
    /// The network, a timeout or a `5xx`: worth another try.
    Transient(String),
}

/// A Bot API client for one bot.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    /// `{api_url}/bot{token}/`: every method's URL starts with it.
    base: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds the bot token.
        f.debug_struct("BotApi").finish_non_exhaustive()
    }
}

impl BotApi {
    /// A client for the bot with `token` at `api_url` (`https://api.telegram.org`, or a
    /// stand-in in tests).
    pub fn new(api_url: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
        Ok(BotApi {
            http,
            base: format!("{}/bot{token}/", api_url.trim_end_matches('/')),
        })
    }

    /// Calls `method` with a JSON body; the `result` on success.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, CallError> {
        let response = self
            .http
            .post(format!("{}{method}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|err| CallError::Transient(without_url(err)))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|err| CallError::Transient(format!("{status}: {}", without_url(err))))?;
        if answer["ok"] == Value::Bool(true) {
            return Ok(answer["result"].clone());
        }
        let description = answer["description"]
            .as_str()
            .unwrap_or("no description")
            .to_owned();
        Err(match status.as_u16() {
            429 => CallError::RetryAfter(Duration::from_secs(
                answer["parameters"]["retry_after"].as_u64().unwrap_or(1),
            )),
            403 => CallError::Unreachable(description),
            400 if description.contains("chat not found") => CallError::Unreachable(description),
            400..=499 => CallError::Refused(description),
            _ => CallError::Transient(format!("{status}: {description}")),
        })
    }
}

/// An error's text without the request URL, which holds the bot token.
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}
