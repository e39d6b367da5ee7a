//! Whether this node reaches Redis, as `/healthz` and `/metrics` report it.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Redis is up for this node when both of its links answer (the subscription, which
/// brings other nodes' events, and the command connection: publishing, presence) and
/// Redis agrees with the node about who is present here.
pub struct RedisHealth {
    subscriber: AtomicBool,
    commands: AtomicBool,
    /// This node's presence is registered in Redis (after a start or an outage, once
    /// the reconcile has run).
    presence: AtomicBool,
    metrics: Arc<Metrics>,
}

impl RedisHealth {
    pub fn new(metrics: Arc<Metrics>) -> RedisHealth {
        RedisHealth {
            subscriber: AtomicBool::new(false),
            commands: AtomicBool::new(true),
            presence: AtomicBool::new(false),
            metrics,
        }
    }

    pub fn is_up(&self) -> bool {
        self.subscriber.load(Ordering::Acquire)
            && self.commands.load(Ordering::Acquire)
            && self.presence.load(Ordering::Acquire)
    }

    pub fn presence(&self, in_step: bool) {
        self.presence.store(in_step, Ordering::Release);
        self.report();
    }

    pub fn subscriber(&self, up: bool) {
        self.subscriber.store(up, Ordering::Release);
        self.report();
    }

    pub fn commands(&self, up: bool) {
        self.commands.store(up, Ordering::Release);
        self.report();
    }

    fn report(&self) {
        self.metrics.redis_up.set(i64::from(self.is_up()));
    }
}
