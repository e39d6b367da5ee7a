//! Telling Telegram users that someone wrote while none of their connections is open:
//! once per conversation until they open the app again, never to a muted user or one
//! the bot cannot write to, and for a stranger without a name or a word of the message.

use super::Bot;
use super::commands::app_url;
use super::queue::Call;
use chat_protocol::{Message, RoomKind, validate};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Private messages that may wait for the notifier; beyond it they are not notified
/// (counted as suppressed): the journal never waits for the bot.
pub const QUEUE_DEPTH: usize = 1024;
/// The longest preview of a direct message, in characters.
const PREVIEW_CHARS: usize = 100;

/// Works through committed private messages until `stop`.
pub async fn run(bot: Arc<Bot>, mut messages: mpsc::Receiver<Message>, stop: CancellationToken) {
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return,
            message = messages.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        for (user_id, body) in bot.notifications(&message).await {
            let Some(telegram_id) = telegram_id(&user_id) else {
                continue;
            };
            if !bot.may_notify(&user_id, telegram_id, &message.room).await {
                bot.metrics.telegram_notification("suppressed");
                continue;
            }
            bot.queue.submit(Call {
                method: "sendMessage",
                body: with_chat(body, telegram_id),
                telegram_id: Some(telegram_id),
                notification: true,
            });
        }
    }
}

/// The Telegram user behind a user id, for Telegram users.
pub(super) fn telegram_id(user_id: &str) -> Option<i64> {
    user_id.strip_prefix("tg_")?.parse().ok()
}

fn with_chat(mut body: Value, chat_id: i64) -> Value {
    body["chat_id"] = json!(chat_id);
    body
}

impl Bot {
    /// Who a private message may be notified to (the members but its author), each with
    /// the `sendMessage` body (without `chat_id`). Public rooms notify no one.
    async fn notifications(&self, message: &Message) -> Vec<(String, Value)> {
        match validate::room(&message.room) {
            Ok(RoomKind::Direct { a, b }) => {
                let to = if message.from.id == a { b } else { a };
                let preview: String = message.text.chars().take(PREVIEW_CHARS).collect();
                let ellipsis = if preview.len() < message.text.len() {
                    "…"
                } else {
                    ""
                };
                let text = format!("{}: {preview}{ellipsis}", message.from.name);
                vec![(
                    to.to_owned(),
                    self.notification(text, "Open the conversation", &message.room),
                )]
            }
            Ok(RoomKind::Pair { .. }) => {
                let pair = match self.store.pair(&message.room).await {
                    Ok(Some(pair)) => pair,
                    Ok(None) => return Vec::new(),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot look up a pair to notify");
                        return Vec::new();
                    }
                };
                // In a pair the author is known by their alias: the other seat is told.
                pair.seats
                    .iter()
                    .filter(|seat| seat.alias != message.from.id)
                    .map(|seat| {
                        let body = self.notification(
                            "The stranger wrote to you.".to_owned(),
                            "Open the chat",
                            &message.room,
                        );
                        (seat.user.id.clone(), body)
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn notification(&self, text: String, label: &str, room: &str) -> Value {
        json!({
            "text": text,
            "reply_markup": {"inline_keyboard": [[{
                "text": label,
                "web_app": {"url": app_url(&self.public_url, Some(room))},
            }]]},
        })
    }

    /// Whether `user_id` is to be told about `room` now: offline, started the bot, not
    /// muted, reachable, and not told about this conversation since they last opened
    /// the app (which this call then records).
    async fn may_notify(&self, user_id: &str, telegram_id: i64, room: &str) -> bool {
        if self.roster.is_online(user_id).await {
            return false;
        }
        match self.store.bot_user(telegram_id).await {
            Ok(Some(user)) if user.started && !user.muted && !user.unreachable => {}
            Ok(_) => return false,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look up a Telegram user's bot settings");
                return false;
            }
        }
        self.notified.first_time(user_id, room).await
    }
}
