//! What `/metrics` reports, in the Prometheus (OpenMetrics) text format.
//!
//! One registry per server instance rather than a process-global one, so that several
//! servers in one process (the tests) each count their own.

use crate::store::CloseReason;
use chat_protocol::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// How a Bot API call ended: `sent`, `failed` (given up after its retries or refused),
/// `unreachable` (the user blocked the bot), `dropped` (the queue was full).
const CALL_OUTCOMES: [&str; 4] = ["sent", "failed", "unreachable", "dropped"];

/// Every metric the server keeps. Updating one is an atomic operation.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub subscriptions: Gauge,
    pub messages_stored: Counter,
    pub deliveries: Counter,
    pub slow_consumer_closes: Counter,
    /// WebSocket upgrades refused because their address was over its connect rate.
    pub connects_refused: Counter,
    /// Coalesced `presence` frames sent to big rooms (each counted once, not per
    /// subscriber).
    pub presence_frames: Counter,
    errors: Family<CodeLabel, Counter>,
    commit_seconds: Histogram,
    batch_messages: Histogram,
    /// Users waiting for a stranger.
    pub match_queue: Gauge,
    pub pairs_opened: Counter,
    pairs_closed: Family<ReasonLabel, Counter>,
    match_wait_seconds: Histogram,
    pub reports: Counter,
    /// Updates the Telegram webhook received (with the right secret).
    pub telegram_updates: Counter,
    telegram_calls: Family<OutcomeLabel, Counter>,
    telegram_notifications: Family<OutcomeLabel, Counter>,
    /// 1 while this node reaches Redis (always 0 on a node without one).
    pub redis_up: Gauge,
    /// Commands (and pipelined publishes) sent to Redis.
    pub redis_commands: Counter,
    redis_publish_seconds: Histogram,
    /// Reads from the database of messages Redis did not bring.
    pub gap_fills: Counter,
    pub lease_renewals: Counter,
    /// Deliveries to this node's subscribers of messages stored by other nodes.
    pub remote_deliveries: Counter,
    /// Where each `joined` history came from: the room's tail in memory, or the store.
    join_histories: Family<SourceLabel, Counter>,
    /// New sessions stored with the journal's batches.
    pub sessions_stored: Counter,
}

/// Where a `joined` history was read: `memory` (the room's tail) or `store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistorySource {
    Memory,
    Store,
}

impl HistorySource {
    fn as_str(self) -> &'static str {
        match self {
            HistorySource::Memory => "memory",
            HistorySource::Store => "store",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let connections = Gauge::default();
        let subscriptions = Gauge::default();
        let messages_stored = Counter::default();
        let deliveries = Counter::default();
        let slow_consumer_closes = Counter::default();
        let errors = Family::<CodeLabel, Counter>::default();
        // 50 µs to ~1.6 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let batch_messages = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        let match_queue = Gauge::default();
        let pairs_opened = Counter::default();
        let pairs_closed = Family::<ReasonLabel, Counter>::default();
        // 10 ms to ~5.5 min.
        let match_wait_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let reports = Counter::default();
        let telegram_updates = Counter::default();
        let telegram_calls = Family::<OutcomeLabel, Counter>::default();
        let telegram_notifications = Family::<OutcomeLabel, Counter>::default();
        let redis_up = Gauge::default();
        let connects_refused = Counter::default();
        let presence_frames = Counter::default();
        let redis_commands = Counter::default();
        // 50 µs to ~1.6 s.
        let redis_publish_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let gap_fills = Counter::default();
        let lease_renewals = Counter::default();
        let remote_deliveries = Counter::default();
        let join_histories = Family::<SourceLabel, Counter>::default();
        let sessions_stored = Counter::default();
        let mut registry = Registry::with_prefix("chat");
        registry.register(
            "join_histories",
            "Histories sent with joined, by where they were read: memory (the room's newest messages) or store",
            join_histories.clone(),
        );
        for source in [HistorySource::Memory, HistorySource::Store] {
            let _ = join_histories.get_or_create(&SourceLabel {
                source: source.as_str(),
            });
        }
        registry.register(
            "sessions_stored",
            "New anonymous sessions stored with the journal's batches",
            sessions_stored.clone(),
        );
        registry.register(
            "connects_refused",
            "WebSocket connections refused (429): their client address was over its rate",
            connects_refused.clone(),
        );
        registry.register(
            "presence_frames",
            "Coalesced presence frames sent to big rooms (once per room, not per subscriber)",
            presence_frames.clone(),
        );
        registry.register(
            "redis_up",
            "1 while this node reaches Redis (several nodes only)",
            redis_up.clone(),
        );
        registry.register(
            "redis_commands",
            "Commands sent to Redis, publishes included",
            redis_commands.clone(),
        );
        registry.register(
            "redis_publish_seconds",
            "Time for one pipeline of publishes to Redis",
            redis_publish_seconds.clone(),
        );
        registry.register(
            "cluster_gap_fills",
            "Reads from the database of messages Redis did not bring",
            gap_fills.clone(),
        );
        registry.register(
            "cluster_lease_renewals",
            "Renewals of this node's lease in Redis",
            lease_renewals.clone(),
        );
        registry.register(
            "cluster_remote_deliveries",
            "Deliveries here of messages that other nodes stored",
            remote_deliveries.clone(),
        );
        registry.register(
            "match_queue",
            "Users waiting for a stranger",
            match_queue.clone(),
        );
        registry.register("pairs_opened", "Anonymous pairs made", pairs_opened.clone());
        registry.register(
            "pairs_closed",
            "Anonymous pairs closed, by reason",
            pairs_closed.clone(),
        );
        registry.register(
            "match_wait_seconds",
            "Time from match to matched",
            match_wait_seconds.clone(),
        );
        registry.register("reports", "Reports received", reports.clone());
        registry.register(
            "telegram_updates",
            "Telegram webhook updates received",
            telegram_updates.clone(),
        );
        registry.register(
            "telegram_calls",
            "Bot API calls, by how they ended",
            telegram_calls.clone(),
        );
        registry.register(
            "telegram_notifications",
            "Notifications of private messages: sent, failed (given up, the user blocked the bot, or a full queue), or suppressed (recipient online, muted, never started the bot, unreachable, already told)",
            telegram_notifications.clone(),
        );
        for outcome in ["sent", "failed", "suppressed"] {
            let _ = telegram_notifications.get_or_create(&OutcomeLabel { outcome });
        }
        for outcome in CALL_OUTCOMES {
            let _ = telegram_calls.get_or_create(&OutcomeLabel { outcome });
        }
        for reason in CloseReason::ALL {
            let _ = pairs_closed.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "room_subscriptions",
            "Rooms joined, summed over connections",
            subscriptions.clone(),
        );
        registry.register(
            "messages_stored",
            "Messages committed to storage",
            messages_stored.clone(),
        );
        registry.register(
            "deliveries",
            "Message frames queued to subscribers",
            deliveries.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Connections closed with 1013 for not keeping up",
            slow_consumer_closes.clone(),
        );
        registry.register("errors", "Error frames sent, by code", errors.clone());
        registry.register(
            "store_commit_seconds",
            "Time to store one batch of messages",
            commit_seconds.clone(),
        );
        registry.register(
            "store_batch_messages",
            "Messages per stored batch (group commit)",
            batch_messages.clone(),
        );
        for code in ErrorCode::ALL {
            // Present from the start, at 0, so rates work before the first error.
            let _ = errors.get_or_create(&CodeLabel {
                code: code.as_str(),
            });
        }
        Metrics {
            registry,
            connections,
            subscriptions,
            messages_stored,
            deliveries,
            slow_consumer_closes,
            connects_refused,
            presence_frames,
            errors,
            commit_seconds,
            batch_messages,
            match_queue,
            pairs_opened,
            pairs_closed,
            match_wait_seconds,
            telegram_updates,
            telegram_calls,
            telegram_notifications,
            reports,
            redis_up,
            redis_commands,
            redis_publish_seconds,
            gap_fills,
            lease_renewals,
            remote_deliveries,
            join_histories,
            sessions_stored,
        }
    }
}

impl Metrics {
    /// Counts a notification: `sent`, `failed` or `suppressed`.
    pub fn telegram_notification(&self, outcome: &'static str) {
        self.telegram_notifications
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts a Bot API call by how it ended (one of [`CALL_OUTCOMES`]).
    pub fn telegram_call(&self, outcome: &'static str) {
        self.telegram_calls
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts an `error` frame sent to a client.
    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// Records one stored batch.
    pub fn stored_batch(&self, messages: usize, took: Duration) {
        self.messages_stored.inc_by(messages as u64);
        self.commit_seconds.observe(took.as_secs_f64());
        self.batch_messages.observe(messages as f64);
    }

    /// Counts a `joined` history by where it was read.
    pub fn join_history(&self, source: HistorySource) {
        self.join_histories
            .get_or_create(&SourceLabel {
                source: source.as_str(),
            })
            .inc();
    }

    /// Records one pipeline of publishes.
    pub fn redis_published(&self, took: Duration) {
        self.redis_publish_seconds.observe(took.as_secs_f64());
    }

    /// Counts a closed pair.
    pub fn pair_closed(&self, reason: CloseReason) {
        self.pairs_closed
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Records how long a user waited for a partner.
    pub fn matched_after(&self, waited: Duration) {
        self.match_wait_seconds.observe(waited.as_secs_f64());
    }

    /// The current values, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut body = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut body, &self.registry);
        body
    }
}
