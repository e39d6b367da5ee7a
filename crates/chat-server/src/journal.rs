//! The single writer through which every message is stored and then delivered.
//!
//! Senders queue [`Append`]s; one task takes whatever has queued up (group commit), stores
//! it as one batch, and only after the batch is stored hands each message to the hub, in
//! `seq` order. One writer per process means delivery order is storage order, and
//! throughput is not one commit per message while a lone message still goes out at once.
//! New anonymous sessions ride along in the same batches, so that a storm of first
//! joins costs a commit per batch rather than one per user.

use crate::hub::{ConnId, Hub, Origin};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, flush_all};
use crate::outgoing::encode;
use crate::store::{Batch, NewMessage, NewSession, Store};
use chat_protocol::{ErrorCode, Message, ServerFrame, User};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

/// Most messages stored in one batch.
const MAX_BATCH: usize = 4096;
/// Appends that may wait for the writer before senders are made to wait.
const QUEUE_DEPTH: usize = 8192;

/// A message to store, and who to tell if storing fails.
#[derive(Debug)]
pub struct Append {
    pub room: String,
    pub from: User,
    pub text: String,
    pub sender: Option<Sender>,
}

/// The connection that sent a message: its copy carries `ref`, and a failure is reported
/// to it as `error` `internal`.
#[derive(Debug, Clone)]
pub struct Sender {
    pub conn: ConnId,
    pub client_ref: Option<String>,
    pub outbox: Outbox,
}

enum Command {
    Append(Append),
    /// A new session, answered once its batch is stored (or failed).
    Session(NewSession, oneshot::Sender<Result<(), SessionNotStored>>),
    /// Answered once everything queued before it is stored and delivered.
    Barrier(oneshot::Sender<()>),
}

/// Told of every message once it is stored, before it is delivered (the Telegram bot
/// notifies the offline recipients of private messages). Called on the writer's path:
/// it must only look and queue, never wait.
pub trait CommitObserver: Send + Sync {
    fn committed(&self, message: &Message);

    /// The whole batch, once, after [`CommitObserver::committed`] for each message.
    fn batch_committed(&self, _messages: &[Message]) {}
}

/// The journal is gone: the server is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is shutting down")]
pub struct JournalClosed;

/// A session could not be stored: the batch it was in failed, or the server is shutting
/// down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session could not be stored")]
pub struct SessionNotStored;

/// Handle for queueing appends; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Command>,
}

impl Journal {
    /// Starts the writer task on `tracker`. It stops when every handle is dropped, after
    /// storing what was queued.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        observers: Vec<Arc<dyn CommitObserver>>,
        tracker: &TaskTracker,
    ) -> Journal {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tracker.spawn(run_writer(rx, store, hub, metrics, observers));
        Journal { tx }
    }

    /// Queues a message. Waits only when the writer is far behind, which slows the
    /// sending connection, never the others.
    pub async fn append(&self, append: Append) -> Result<(), JournalClosed> {
        self.tx
            .send(Command::Append(append))
            .await
            .map_err(|_| JournalClosed)
    }

    /// Stores a new session with the next batch; returns once it is stored.
    pub async fn store_session(&self, token: String, user: User) -> Result<(), SessionNotStored> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Session(NewSession { token, user }, done))
            .await
            .map_err(|_| SessionNotStored)?;
        wait.await.map_err(|_| SessionNotStored)?
    }

    /// Waits until everything queued so far is stored and delivered.
    pub async fn flush(&self) -> Result<(), JournalClosed> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Barrier(done))
            .await
            .map_err(|_| JournalClosed)?;
        wait.await.map_err(|_| JournalClosed)
    }
}

async fn run_writer(
    mut rx: mpsc::Receiver<Command>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    observers: Vec<Arc<dyn CommitObserver>>,
) {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    let mut ids = ulid::Generator::new();
    while rx.recv_many(&mut commands, MAX_BATCH).await > 0 {
        let mut batch = Batch {
            sessions: Vec::new(),
            messages: Vec::with_capacity(commands.len()),
        };
        let mut senders = Vec::with_capacity(commands.len());
        let mut session_waiters = Vec::new();
        let mut barriers = Vec::new();
        let ts = crate::clock::now_ms();
        for command in commands.drain(..) {
            match command {
                Command::Append(append) => {
                    // Monotonic within the millisecond; on the (never seen) overflow a
                    // fresh random ULID is still unique.
                    let id = ids.generate().unwrap_or_else(|_| ulid::Ulid::new());
                    batch.messages.push(NewMessage {
                        room: append.room,
                        id: id.to_string(),
                        from: append.from,
                        text: append.text,
                        ts,
                    });
                    senders.push(append.sender);
                }
                Command::Session(session, done) => {
                    batch.sessions.push(session);
                    session_waiters.push(done);
                }
                Command::Barrier(done) => barriers.push(done),
            }
        }
        if !batch.messages.is_empty() || !batch.sessions.is_empty() {
            let sessions = batch.sessions.len();
            let stored =
                store_and_deliver(store.as_ref(), &hub, &metrics, &observers, batch, senders).await;
            if stored {
                metrics.sessions_stored.inc_by(sessions as u64);
            }
            let outcome = if stored {
                Ok(())
            } else {
                Err(SessionNotStored)
            };
            for done in session_waiters {
                let _ = done.send(outcome);
            }
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
}

/// Stores a batch and delivers its messages; false when storing failed (the senders
/// are told).
async fn store_and_deliver(
    store: &dyn Store,
    hub: &Hub,
    metrics: &Metrics,
    observers: &[Arc<dyn CommitObserver>],
    batch: Batch,
    senders: Vec<Option<Sender>>,
) -> bool {
    let count = batch.messages.len();
    let started = std::time::Instant::now();
    // With several nodes, the hub must know which rooms have a commit of this node on
    // its way, so that it does not read from the database what is about to arrive.
    let mut rooms: Vec<String> = Vec::new();
    if hub.in_cluster() {
        rooms = batch.messages.iter().map(|m| m.room.clone()).collect();
        rooms.sort_unstable();
        rooms.dedup();
    }
    hub.commits_begin(rooms.iter().map(String::as_str));
    match store.append_batch(batch).await {
        Ok(stored) => {
            if !stored.is_empty() {
                metrics.stored_batch(stored.len(), started.elapsed());
            }
            for observer in observers {
                for message in &stored {
                    observer.committed(message);
                }
                observer.batch_committed(&stored);
            }
            // Queue the whole batch first, then write: one write per connection for
            // everything this commit holds for it.
            let mut dirty = Vec::new();
            for (message, sender) in stored.into_iter().zip(senders) {
                let origin = sender.map(|s| Origin {
                    conn: s.conn,
                    client_ref: s.client_ref,
                });
                hub.deliver(message, origin.as_ref(), &mut dirty);
            }
            hub.commits_end(rooms.iter().map(String::as_str));
            flush_all(dirty);
            true
        }
        Err(err) => {
            hub.commits_end(rooms.iter().map(String::as_str));
            tracing::error!(error = %err, messages = count, "storing a batch failed");
            for sender in senders.into_iter().flatten() {
                metrics.error(ErrorCode::Internal);
                let frame = encode(&ServerFrame::error(
                    ErrorCode::Internal,
                    "the message could not be stored; nothing was sent",
                    sender.client_ref,
                ));
                let _ = sender.outbox.push(frame);
            }
            false
        }
    }
}
