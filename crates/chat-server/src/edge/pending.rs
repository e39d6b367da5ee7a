//! Connections that have not completed a request yet: counted, capped, and evictable.
//!
//! A connection costs a file descriptor from its accept on. One that never finishes its
//! request head (slowloris, or a socket that sends nothing) would hold it forever, and
//! a few hundred of them exhaust the process's file limit. So every such connection is
//! registered here until its first request head arrives: beyond the cap the oldest is
//! dropped to make room for the newcomer (an honest client completes its request within
//! milliseconds, so the oldest is the likeliest attacker), and when the process is out of
//! descriptors the oldest is dropped so that accept can succeed again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// The registry of connections still waiting for their first request head.
#[derive(Debug)]
pub struct PendingConnections {
    waiting: Mutex<VecDeque<(u64, CancellationToken)>>,
    max: usize,
    next_id: AtomicU64,
}

impl PendingConnections {
    /// A registry holding at most `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(PendingConnections {
            waiting: Mutex::new(VecDeque::new()),
            max: max.max(1),
            next_id: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(u64, CancellationToken)>> {
        // Nothing panics under this lock; a poisoned one still holds a valid queue.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection, evicting the oldest if the registry is full.
    pub fn admit(self: &Arc<Self>) -> Pending {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        let mut waiting = self.lock();
        while waiting.len() >= self.max {
            if let Some((_, oldest)) = waiting.pop_front() {
                oldest.cancel();
            }
        }
        waiting.push_back((id, evicted.clone()));
        Pending {
            id,
            evicted,
            registry: self.clone(),
        }
    }

    /// Drops the oldest waiting connection; false when none is waiting.
    pub fn evict_oldest(&self) -> bool {
        let oldest = self.lock().pop_front();
        oldest.map(|(_, token)| token.cancel()).is_some()
    }

    /// How many connections are waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, id: u64) {
        let mut waiting = self.lock();
        if let Some(at) = waiting.iter().position(|(waiting_id, _)| *waiting_id == id) {
            waiting.remove(at);
        }
    }
}

/// One registered connection. Dropping it, or [`Pending::complete`], unregisters it.
#[derive(Debug)]
pub struct Pending {
    id: u64,
    evicted: CancellationToken,
    registry: Arc<PendingConnections>,
}

impl Pending {
    /// The connection sent a complete request head: it no longer counts as waiting.
    pub fn complete(&self) {
        self.registry.remove(self.id);
    }

    /// Whether it is still registered (neither completed nor evicted).
    pub fn is_waiting(&self) -> bool {
        self.registry.lock().iter().any(|(id, _)| *id == self.id)
    }

    /// Cancelled when the registry evicts this connection.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evicted
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_evicted_beyond_the_cap() {
        let registry = PendingConnections::new(2);
        let first = registry.admit();
        let second = registry.admit();
        let third = registry.admit();
        assert!(first.evicted().is_cancelled());
        assert!(!second.evicted().is_cancelled() && !third.evicted().is_cancelled());
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn completed_and_dropped_connections_leave_the_registry() {
        let registry = PendingConnections::new(4);
        let done = registry.admit();
        let gone = registry.admit();
        done.complete();
        drop(gone);
        assert!(registry.is_empty());
        assert!(!registry.evict_oldest());
        assert!(!done.evicted().is_cancelled(), "completing is not eviction");
    }
}
