//! The publishing side of Redis: one task takes what the node has to say to the others
//! and sends it in pipelines, so that neither the journal nor a connection ever waits on
//! Redis. Redis is not the record: what cannot be published (Redis away, the queue
//! full) is dropped, and for every room whose messages were dropped the room's newest
//! seq is announced once publishing works again, so that every node reads what it
//! missed from the database.

use super::envelope::{Envelope, Event};
use super::health::RedisHealth;
use crate::metrics::Metrics;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What may wait for the publisher before more is dropped.
const QUEUE_DEPTH: usize = 16_384;
/// Most publishes sent in one pipeline.
const MAX_PIPELINE: usize = 512;
/// How often heads that could not be announced are tried again.
const RETRY_MISSED_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

struct Outgoing {
    channel: String,
    payload: String,
    /// For a batch of messages: the room and its newest seq.
    head: Option<(String, u64)>,
}

/// A handle for publishing; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    node: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    /// Rooms whose messages were not published, with the newest seq dropped.
    missed: Arc<Mutex<HashMap<String, u64>>>,
}

impl Publisher {
    pub fn start(
        node: Arc<str>,
        connection: ConnectionManager,
        keys: super::keys::Keys,
        health: Arc<RedisHealth>,
        metrics: Arc<Metrics>,
        tracker: &tokio_util::task::TaskTracker,
        stop: CancellationToken,
    ) -> Publisher {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let publisher = Publisher {
            node,
            tx,
            missed: Arc::default(),
        };
        tracker.spawn(
            publisher
                .clone()
                .run(rx, connection, keys, health, metrics, stop),
        );
        publisher
    }

    /// Queues an event for a channel; never waits.
    pub fn publish(&self, channel: String, event: Event) {
        let head = match &event {
            Event::Messages { messages } => messages.last().map(|m| (m.room.clone(), m.seq)),
            _ => None,
        };
        let envelope = Envelope {
            node: self.node.to_string(),
            event,
        };
        let payload = match serde_json::to_string(&envelope) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode an event for Redis");
                return;
            }
        };
        let outgoing = Outgoing {
            channel,
            payload,
            head,
        };
        if let Err(
            mpsc::error::TrySendError::Full(dropped) | mpsc::error::TrySendError::Closed(dropped),
        ) = self.tx.try_send(outgoing)
        {
            self.remember(dropped.head);
        }
    }

    fn missed(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.missed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, head: Option<(String, u64)>) {
        if let Some((room, seq)) = head {
            let mut missed = self.missed();
            let newest = missed.entry(room).or_default();
            *newest = (*newest).max(seq);
        }
    }

    async fn run(
        self,
        mut rx: mpsc::Receiver<Outgoing>,
        mut connection: ConnectionManager,
        keys: super::keys::Keys,
        health: Arc<RedisHealth>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(MAX_PIPELINE);
        let mut retry = tokio::time::interval(RETRY_MISSED_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                received = rx.recv_many(&mut batch, MAX_PIPELINE) => {
                    if received == 0 {
                        return;
                    }
                }
                // Dropped heads are announced even when nothing else is published.
                _ = retry.tick() => {
                    if self.missed().is_empty() {
                        continue;
                    }
                }
            }
            // Heads of rooms whose messages were dropped go out with the next pipeline.
            let missed: Vec<(String, u64)> = self.missed().drain().collect();
            for (room, seq) in &missed {
                let envelope = Envelope {
                    node: self.node.to_string(),
                    event: Event::Head {
                        room: room.clone(),
                        seq: *seq,
                    },
                };
                if let Ok(payload) = serde_json::to_string(&envelope) {
                    batch.push(Outgoing {
                        channel: keys.room_channel(room),
                        payload,
                        head: Some((room.clone(), *seq)),
                    });
                }
            }
            let mut pipeline = redis::pipe();
            for outgoing in &batch {
                pipeline
                    .cmd("PUBLISH")
                    .arg(&outgoing.channel)
                    .arg(&outgoing.payload)
                    .ignore();
            }
            let started = std::time::Instant::now();
            let sent: redis::RedisResult<()> = pipeline.query_async(&mut connection).await;
            metrics.redis_commands.inc_by(batch.len() as u64);
            match sent {
                Ok(()) => {
                    metrics.redis_published(started.elapsed());
                    health.commands(true);
                }
                Err(err) => {
                    if health.is_up() {
                        tracing::warn!(error = %err, "publishing to Redis failed; nodes will read the database");
                    }
                    health.commands(false);
                    for outgoing in batch.drain(..) {
                        self.remember(outgoing.head);
                    }
                }
            }
            batch.clear();
        }
    }
}
