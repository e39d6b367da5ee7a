//! `chat-server telegram setup`: registers the webhook (with its secret), the menu button
//! that opens the app, and the command list. Idempotent: it reads each setting first and
//! changes only what differs, saying what it did.

use super::api::{BotApi, CallError};
use super::commands::app_url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The commands the bot answers, as Telegram lists them in its menu.
const COMMANDS: [(&str, &str); 5] = [
    ("start", "Open the chat"),
    ("chat", "Talk to a random stranger"),
    ("mute", "Stop notifications"),
    ("unmute", "Notify me when someone writes"),
    ("help", "What I can do"),
];

/// Brings the bot's settings in line; one line per setting, saying whether it changed.
pub async fn run(api: &BotApi, public_url: &str, secret: &str) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();

    // Telegram never shows the secret back, so the webhook address carries a short
    // fingerprint of it: a new secret is a new address, and so registered again.
    let fingerprint = hex::encode(&Sha256::digest(secret.as_bytes())[..4]);
    let webhook = format!(
        "{}/telegram/webhook?v={fingerprint}",
        public_url.trim_end_matches('/')
    );
    let current = call(api, "getWebhookInfo", json!({})).await?;
    if current["url"].as_str() == Some(webhook.as_str())
        && current["allowed_updates"] == json!(["message"])
    {
        report.push(format!("webhook: already {webhook}"));
    } else {
        call(
            api,
            "setWebhook",
            json!({"url": webhook, "secret_token": secret, "allowed_updates": ["message"]}),
        )
        .await?;
        report.push(format!("webhook: set to {webhook}"));
    }

    let button = json!({"type": "web_app", "text": "Open chat", "web_app": {"url": app_url(public_url, None)}});
    if call(api, "getChatMenuButton", json!({})).await? == button {
        report.push("menu button: already opens the app".to_owned());
    } else {
        call(api, "setChatMenuButton", json!({"menu_button": button})).await?;
        report.push(format!(
            "menu button: set to open {}",
            app_url(public_url, None)
        ));
    }

    let commands: Value = COMMANDS
        .iter()
        .map(|(command, description)| json!({"command": command, "description": description}))
        .collect();
    if call(api, "getMyCommands", json!({})).await? == commands {
        report.push("commands: already listed".to_owned());
    } else {
        call(api, "setMyCommands", json!({"commands": commands})).await?;
        report.push(format!(
            "commands: set ({})",
            COMMANDS.map(|(c, _)| c).join(", ")
        ));
    }
    Ok(report)
}

async fn call(api: &BotApi, method: &str, body: Value) -> anyhow::Result<Value> {
    api.call(method, &body).await.map_err(|err| match err {
        CallError::RetryAfter(wait) => {
            anyhow::anyhow!("{method}: Telegram asks to wait {wait:?}; run it again then")
        }
        CallError::Unreachable(why) | CallError::Refused(why) | CallError::Transient(why) => {
            anyhow::anyhow!("{method}: {why}")
        }
    })
}
