//! A connection's outgoing queue: ready-serialized frames, bounded in bytes.
//!
//! Fan-out never waits on a socket: [`Outbox::push`] is synchronous and either queues the
//! frame or, when the client has fallen more than the limit behind, marks the connection
//! closing with 1013 and refuses. Bounding by bytes rather than by frame count lets a
//! healthy client absorb a burst of small frames while still capping memory.

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use tokio::sync::Notify;

/// Why a connection is being closed, and so which close code its peer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The peer closed or the socket failed: nothing to send.
    PeerGone = 1,
    /// The server is shutting down (1001).
    Shutdown = 2,
    /// Nothing heard from the peer within the idle timeout (1001).
    Idle = 3,
    /// The peer sent a binary frame (1003).
    Binary = 4,
    /// The peer sent a frame over the size limit (1009).
    TooBig = 5,
    /// The peer did not read fast enough (1013).
    SlowConsumer = 6,
}

impl CloseReason {
    /// The WebSocket close code and reason text sent to the peer.
    pub fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            CloseReason::PeerGone => None,
            CloseReason::Shutdown => Some((1001, "server shutting down")),
            CloseReason::Idle => Some((1001, "idle timeout")),
            CloseReason::Binary => Some((1003, "binary frames are not supported")),
            CloseReason::TooBig => Some((1009, "frame larger than 64 KiB")),
            CloseReason::SlowConsumer => Some((1013, "too slow to keep up")),
        }
    }

    fn from_u8(value: u8) -> Option<Self> {
        [
            CloseReason::PeerGone,
            CloseReason::Shutdown,
            CloseReason::Idle,
            CloseReason::Binary,
            CloseReason::TooBig,
            CloseReason::SlowConsumer,
        ]
        .into_iter()
        .find(|reason| *reason as u8 == value)
    }
}

/// The frame was not queued because the connection is closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing;

/// State shared by every handle to one connection's queue and by its writer.
///
/// Closing is an atomic read on every push and one `Notify` wait per task for the whole
/// connection: this sits on the fan-out hot path, where a lock per frame showed up in
/// profiles.
#[derive(Debug)]
pub struct OutboxShared {
    /// Frames and control items for the writer. A plain locked deque rather than a
    /// channel: it allocates nothing until used (idle connections are the common case),
    /// and the writer takes everything queued with one lock.
    queue: Mutex<VecDeque<Outgoing>>,
    /// The writer, when it is waiting for the queue.
    writer: AtomicWaker,
    queued_bytes: AtomicUsize,
    limit_bytes: usize,
    /// 0 while open, else the first [`CloseReason`].
    reason: AtomicU8,
    closed: Notify,
}

impl OutboxShared {
    /// Whether the connection has started closing.
    pub fn is_closing(&self) -> bool {
        self.reason.load(Ordering::Acquire) != 0
    }

    /// Resolves once the connection starts closing, for whatever reason. Create it once
    /// per task and poll it by reference, rather than once per loop iteration.
    pub async fn wait_closing(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// The first reason given to [`OutboxShared::close`], if any.
    pub fn reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.reason.load(Ordering::Acquire))
    }

    /// Starts closing; the first reason wins, later ones are ignored.
    pub fn close(&self, reason: CloseReason) {
        let first =
            self.reason
                .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        if first.is_ok() {
            self.closed.notify_waiters();
        }
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        // Pushing and taking cannot panic midway: a poisoned lock holds a valid deque.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enqueue(&self, item: Outgoing) {
        self.queue().push_back(item);
        self.writer.wake();
    }

    /// The writer reports bytes it has handed to the socket.
    pub fn written(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What the writer takes from the queue. Control items travel in the same queue as
/// frames so that the writer waits on one thing only: its hot loop is receive, write.
#[derive(Debug)]
pub enum Outgoing {
    /// A serialized text frame.
    Frame(Utf8Bytes),
    /// Time to send a WebSocket ping.
    Ping,
    /// The connection started closing; look at the reason.
    Wake,
}

/// A cheap, cloneable handle for queueing frames to one connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<OutboxShared>,
}

/// The writer's end of an [`Outbox`]: there is one per connection.
#[derive(Debug)]
pub struct OutboxReceiver {
    shared: Arc<OutboxShared>,
}

impl OutboxReceiver {
    /// Waits until something is queued, then moves everything queued into `batch`
    /// (which must be empty).
    pub async fn take_all(&mut self, batch: &mut VecDeque<Outgoing>) {
        poll_fn(|cx| {
            if self.try_take_all(batch) {
                return Poll::Ready(());
            }
            self.shared.writer.register(cx.waker());
            // Something may have been queued between the check and the registration.
            if self.try_take_all(batch) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Moves everything queued into `batch` (which must be empty) without waiting;
    /// false when nothing was queued.
    pub fn try_take_all(&mut self, batch: &mut VecDeque<Outgoing>) -> bool {
        let mut queue = self.shared.queue();
        if queue.is_empty() {
            return false;
        }
        std::mem::swap(&mut *queue, batch);
        true
    }
}

impl Outbox {
    /// A new queue that holds at most `limit_bytes` of unsent frames.
    pub fn new(limit_bytes: usize) -> (Outbox, OutboxReceiver) {
        let shared = Arc::new(OutboxShared {
            queue: Mutex::new(VecDeque::new()),
            writer: AtomicWaker::new(),
            queued_bytes: AtomicUsize::new(0),
            limit_bytes,
            reason: AtomicU8::new(0),
            closed: Notify::new(),
        });
        let receiver = OutboxReceiver {
            shared: shared.clone(),
        };
        (Outbox { shared }, receiver)
    }

    /// Queues a frame without waiting. A client more than the limit behind is closed
    /// with 1013 instead, so that it can never slow anyone else down.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), Closing> {
        if self.shared.is_closing() {
            return Err(Closing);
        }
        let len = frame.len();
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        // An empty queue always takes one frame, however large, so the limit can't
        // refuse a frame that a fresh connection could deliver.
        if before > 0 && before + len > self.shared.limit_bytes {
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.close(CloseReason::SlowConsumer);
            return Err(Closing);
        }
        self.shared.enqueue(Outgoing::Frame(frame));
        Ok(())
    }

    /// Starts closing the connection (the first reason wins) and wakes its writer.
    pub fn close(&self, reason: CloseReason) {
        self.shared.close(reason);
        self.shared.enqueue(Outgoing::Wake);
    }

    /// Asks the writer to send a WebSocket ping.
    pub fn ping(&self) {
        self.shared.enqueue(Outgoing::Ping);
    }

    /// The state shared with the writer.
    pub fn shared(&self) -> &Arc<OutboxShared> {
        &self.shared
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_the_byte_limit_is_closed_as_slow() {
        let (outbox, _rx) = Outbox::new(10);
        assert_eq!(outbox.push(Utf8Bytes::from_static("123456")), Ok(()));
        assert_eq!(outbox.push(Utf8Bytes::from_static("1234")), Ok(()));
        assert_eq!(outbox.push(Utf8Bytes::from_static("1")), Err(Closing));
        assert_eq!(outbox.shared().reason(), Some(CloseReason::SlowConsumer));
        assert!(outbox.shared().is_closing());
        assert_eq!(outbox.push(Utf8Bytes::from_static("")), Err(Closing));
    }

    #[test]
    fn written_bytes_make_room_again() {
        let (outbox, _rx) = Outbox::new(10);
        assert_eq!(outbox.push(Utf8Bytes::from_static("1234567890")), Ok(()));
        outbox.shared().written(10);
        assert_eq!(outbox.push(Utf8Bytes::from_static("1234567890")), Ok(()));
        assert_eq!(outbox.queued_bytes(), 10);
    }

    #[test]
    fn one_oversized_frame_fits_an_empty_queue() {
        let (outbox, _rx) = Outbox::new(4);
        assert_eq!(outbox.push(Utf8Bytes::from_static("a long frame")), Ok(()));
    }

    #[test]
    fn the_first_close_reason_wins() {
        let (outbox, _rx) = Outbox::new(4);
        outbox.close(CloseReason::Shutdown);
        outbox.close(CloseReason::SlowConsumer);
        assert_eq!(outbox.shared().reason(), Some(CloseReason::Shutdown));
    }
}

#[cfg(test)]
mod closing_tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_before_and_after_the_close_both_resolve() {
        let (outbox, _rx) = Outbox::new(10);
        let shared = outbox.shared().clone();
        let early = tokio::spawn(async move { shared.wait_closing().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        outbox.close(CloseReason::Idle);
        tokio::time::timeout(Duration::from_secs(1), early)
            .await
            .expect("an early waiter wakes")
            .expect("task");
        tokio::time::timeout(Duration::from_secs(1), outbox.shared().wait_closing())
            .await
            .expect("a late waiter returns at once");
    }
}
