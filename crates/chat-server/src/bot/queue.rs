//! Every Bot API call goes through one bounded queue and one worker, so that Telegram
//! being slow or down never slows the chat: a full queue drops the call (counted), and
//! the worker retries what is worth retrying, honouring `429 retry_after`.

use super::api::{BotApi, CallError};
use crate::metrics::Metrics;
use crate::store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Calls that may wait for the worker; beyond it new ones are dropped.
const QUEUE_DEPTH: usize = 1024;
/// Tries of one call that fails with a transient error.
const TRANSIENT_TRIES: u32 = 3;
/// `429`s one call may get before it is given up.
const RATE_LIMITED_TRIES: u32 = 5;
/// The longest `retry_after` honoured; a longer one gives the call up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One call: a method, its body, and the Telegram user it is for (who is remembered as
/// unreachable if Telegram says so).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub body: Value,
    pub telegram_id: Option<i64>,
    /// A notification (counted as such: sent or failed), not a reply.
    pub notification: bool,
}

/// The way into the queue; cheap to clone.
#[derive(Clone)]
pub struct BotQueue {
    tx: mpsc::Sender<Call>,
    metrics: Arc<Metrics>,
}

impl BotQueue {
    /// Starts the worker on `tracker`; it stops at `stop` (what is still queued then is
    /// dropped: a notification late by a restart is worth less than a quick shutdown).
    pub fn start(
        api: BotApi,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> BotQueue {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tracker.spawn(run(rx, api, store, metrics.clone(), stop));
        BotQueue { tx, metrics }
    }

    /// Queues a call; false (and counted as dropped) when the queue is full.
    pub fn submit(&self, call: Call) -> bool {
        let notification = call.notification;
        let queued = self.tx.try_send(call).is_ok();
        if !queued {
            self.metrics.telegram_call("dropped");
            if notification {
                self.metrics.telegram_notification("failed");
            }
        }
        queued
    }
}

async fn run(
    mut rx: mpsc::Receiver<Call>,
    api: BotApi,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        let call = tokio::select! {
            () = stop.cancelled() => return,
            call = rx.recv() => match call {
                Some(call) => call,
                None => return,
            },
        };
        tokio::select! {
            () = stop.cancelled() => return,
            outcome = deliver(&api, &call) => {
                // Remembered before it is counted: whoever sees the count sees the user
                // as unreachable.
                if let Outcome::Unreachable(why) = &outcome
                    && let Some(id) = call.telegram_id
                {
                    tracing::info!(telegram_id = id, why, "Telegram user unreachable: not tried again");
                    if let Err(err) = store.bot_unreachable(id).await {
                        tracing::warn!(error = %err, "cannot remember an unreachable Telegram user");
                    }
                }
                metrics.telegram_call(outcome.label());
                if call.notification {
                    let sent = matches!(outcome, Outcome::Sent);
                    metrics.telegram_notification(if sent { "sent" } else { "failed" });
                }
            }
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Sent,
    Unreachable(String),
    Failed,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::Failed => "failed",
        }
    }
}

/// One call, with its retries.
async fn deliver(api: &BotApi, call: &Call) -> Outcome {
    let mut transient = 0;
    let mut rate_limited = 0;
    loop {
        match api.call(call.method, &call.body).await {
            Ok(_) => return Outcome::Sent,
            Err(CallError::RetryAfter(wait))
                if rate_limited < RATE_LIMITED_TRIES && wait <= MAX_RETRY_AFTER =>
            {
                rate_limited += 1;
                tokio::time::sleep(wait).await;
            }
            Err(CallError::Transient(why)) if transient + 1 < TRANSIENT_TRIES => {
                transient += 1;
                tracing::debug!(method = call.method, why, "Bot API call failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 << transient)).await;
            }
            Err(CallError::Unreachable(why)) => return Outcome::Unreachable(why),
            Err(err) => {
                tracing::warn!(method = call.method, error = ?err, "Bot API call given up");
                return Outcome::Failed;
            }
        }
    }
}
