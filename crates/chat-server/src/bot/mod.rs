//! The Telegram bot behind the Mini App: how people find the app (commands answered
//! with a button that opens it) and how they learn that someone wrote while it was
//! closed ([`notify`]). Its calls go through [`queue`], so Telegram being slow or down
//! never slows the chat.
//!
//! On when the server has a bot token, a public URL and a webhook secret; Telegram then
//! posts updates to `POST /telegram/webhook` (see `http::telegram_webhook`).

pub mod api;
pub mod commands;
pub mod notify;
pub mod queue;
pub mod setup;

use crate::config::{Config, given};
use crate::journal::CommitObserver;
use crate::metrics::Metrics;
use crate::roster::Roster;
use crate::store::Store;
use api::BotApi;
use chat_protocol::Message;
use queue::{BotQueue, Call};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The bot: its settings, its queue of calls, and the users who started it.
pub struct Bot {
    public_url: String,
    secret: String,
    queue: BotQueue,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    roster: Arc<dyn Roster>,
    /// Private messages on their way to [`notify::run`].
    private_messages: mpsc::Sender<Message>,
    /// The conversations each user was told about since they last opened the app.
    notified: Notified,
}

/// Who was told about which conversation: this process's memory, or the cluster's (so
/// that a conversation whose messages are stored by several nodes is told once).
enum Notified {
    Here(Mutex<HashMap<String, HashSet<String>>>),
    Cluster(Arc<crate::cluster::Cluster>),
}

/// The cluster-wide set of [`Notified::Cluster`].
const NOTIFIED_SET: &str = "bot_told";

impl Notified {
    /// Records that `user_id` is told about `room`; false when they were already.
    async fn first_time(&self, user_id: &str, room: &str) -> bool {
        match self {
            Notified::Here(told) => told
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(user_id.to_owned())
                .or_default()
                .insert(room.to_owned()),
            Notified::Cluster(cluster) => cluster.mark_once(NOTIFIED_SET, user_id, room).await,
        }
    }

    async fn forget(&self, user_id: &str) {
        match self {
            Notified::Here(told) => {
                told.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(user_id);
            }
            Notified::Cluster(cluster) => cluster.unmark_all(NOTIFIED_SET, user_id).await,
        }
    }
}

impl Bot {
    /// The bot `config` describes, started, or `None` when it describes none (a bot
    /// token, `--public-url` and `--telegram-webhook-secret` are all needed).
    pub fn start(
        config: &Config,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        roster: Arc<dyn Roster>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Arc<Bot>>> {
        let (Some(token), Some(public_url), Some(secret)) = (
            given(&config.telegram_bot_token),
            given(&config.public_url),
            given(&config.telegram_webhook_secret),
        ) else {
            return Ok(None);
        };
        check_secret(secret)?;
        let api = BotApi::new(&config.telegram_api_url, token)?;
        let queue = BotQueue::start(api, store.clone(), metrics.clone(), tracker, stop.clone());
        let (private_messages, received) = mpsc::channel(notify::QUEUE_DEPTH);
        let bot = Arc::new(Bot {
            public_url: public_url.to_owned(),
            secret: secret.to_owned(),
            queue,
            store,
            metrics,
            roster,
            private_messages,
            notified: match cluster {
                Some(cluster) => Notified::Cluster(cluster),
                None => Notified::Here(Mutex::new(HashMap::new())),
            },
        });
        tracker.spawn(notify::run(bot.clone(), received, stop));
        Ok(Some(bot))
    }

    /// A connection of `user_id` opened: they will be told about new messages again.
    pub async fn opened_app(&self, user_id: &str) {
        // Only Telegram users are ever told (other users cost nothing here).
        if notify::telegram_id(user_id).is_some() {
            self.notified.forget(user_id).await;
        }
    }

    /// Whether a webhook request carries the secret (compared in constant time).
    pub fn is_from_telegram(&self, given: Option<&[u8]>) -> bool {
        given.is_some_and(|given| bool::from(given.ct_eq(self.secret.as_bytes())))
    }

    /// Handles one Update: a command gets its reply; the rest is ignored.
    pub async fn handle(&self, update: Value) {
        self.metrics.telegram_updates.inc();
        let message = &update["message"];
        let (Some(text), Some(chat_id), Some(from)) = (
            message["text"].as_str(),
            message["chat"]["id"].as_i64(),
            message["from"]["id"].as_i64(),
        ) else {
            return;
        };
        let command = commands::parse(text);
        let remembered = match command {
            commands::Command::Mute => self.store.set_bot_muted(from, true).await,
            commands::Command::Unmute => self.store.set_bot_muted(from, false).await,
            _ => self.store.bot_started(from).await,
        };
        if let Err(err) = remembered {
            tracing::warn!(error = %err, "cannot remember a Telegram user's bot settings");
        }
        self.queue.submit(Call {
            method: "sendMessage",
            body: commands::reply(&command, chat_id, &self.public_url),
            telegram_id: Some(from),
            notification: false,
        });
    }
}

/// Telegram takes a webhook secret of 1-256 of `A-Z a-z 0-9 _ -`; anything else would
/// be refused by `setWebhook`, so it is refused at start instead.
pub fn check_secret(secret: &str) -> anyhow::Result<()> {
    let valid = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    anyhow::ensure!(
        valid,
        "--telegram-webhook-secret must be 1-256 of A-Z, a-z, 0-9, _ and -"
    );
    Ok(())
}

impl CommitObserver for Bot {
    fn committed(&self, message: &Message) {
        if !message.room.starts_with('~') {
            return;
        }
        if self.private_messages.try_send(message.clone()).is_err() {
            // Behind by a whole queue: this one goes untold.
            self.metrics.telegram_notification("failed");
        }
    }
}
