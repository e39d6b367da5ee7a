//! A connection's way out: frames are written straight into its socket by whoever
//! produces them, and queued (bounded in bytes) only while the socket cannot take more.
//!
//! Why: a write that goes through a per-connection writer task costs a task wake-up and
//! a context switch per delivery, which was the largest avoidable cost of fan-out. Here
//! the fan-out itself makes the non-blocking write: an idle connection with room in its
//! socket buffer takes the frame at once. Only when the kernel says "would block" is the
//! frame queued and the connection's own task woken to wait for the socket, and while it
//! waits every further frame just joins the queue, so that a backlog leaves in one
//! vectored write. Fan-out never waits on a socket: a client more than the limit behind
//! is closed with 1013 instead.
//!
//! Callers that deliver many frames at once (a committed batch) use [`Outbox::enqueue`]
//! and [`Outbox::flush`] so that each connection gets one write for the whole batch.

use bytes::{Buf, Bytes};
use chat_wire::CloseCode;
use futures_util::FutureExt;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Frames handed to the kernel in one vectored write, at most.
const MAX_SLICES: usize = 64;

/// Why a connection is being closed, and so which close code its peer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The socket failed or ended: nothing to send.
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
    /// The peer sent a close frame: answered with its own code (1000 when it gave none).
    PeerClosed = 7,
    /// The peer broke the framing rules (1002).
    Protocol = 8,
    /// The peer sent text that is not UTF-8 (1007).
    NotUtf8 = 9,
}

impl CloseReason {
    const ALL: [CloseReason; 9] = [
        CloseReason::PeerGone,
        CloseReason::Shutdown,
        CloseReason::Idle,
        CloseReason::Binary,
        CloseReason::TooBig,
        CloseReason::SlowConsumer,
        CloseReason::PeerClosed,
        CloseReason::Protocol,
        CloseReason::NotUtf8,
    ];

    /// The WebSocket close code and reason text sent to the peer.
    pub fn close_frame(self) -> Option<(CloseCode, &'static str)> {
        match self {
            CloseReason::PeerGone => None,
            CloseReason::Shutdown => Some((CloseCode::GOING_AWAY, "server shutting down")),
            CloseReason::Idle => Some((CloseCode::GOING_AWAY, "idle timeout")),
            CloseReason::Binary => {
                Some((CloseCode::UNSUPPORTED, "binary frames are not supported"))
            }
            CloseReason::TooBig => Some((CloseCode::TOO_BIG, "frame larger than 64 KiB")),
            CloseReason::SlowConsumer => Some((CloseCode::TRY_AGAIN_LATER, "too slow to keep up")),
            CloseReason::PeerClosed => Some((CloseCode::NORMAL, "")),
            CloseReason::Protocol => Some((CloseCode::PROTOCOL, "invalid WebSocket framing")),
            CloseReason::NotUtf8 => Some((CloseCode::INVALID_PAYLOAD, "text frames must be UTF-8")),
        }
    }

    /// Whether frames still queued should go out before the close frame.
    fn delivers_queued(self) -> bool {
        !matches!(
            self,
            CloseReason::SlowConsumer | CloseReason::PeerGone | CloseReason::PeerClosed
        )
    }

    fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| *reason as u8 == value)
    }
}

/// The frame was not queued because the connection is closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing;

/// A connection's byte stream (the upgraded socket).
pub trait Socket: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> Socket for T {}

/// The socket, as the outbox owns it. Reads go through the same lock as writes: a split
/// socket's halves share a lock too, but one that answers a contended write with
/// "pending", which would hand the write to the task for nothing.
pub type Sink = Pin<Box<dyn Socket>>;

/// What is guarded by the outbox's lock: the socket's write side and what waits for it.
struct WriteState {
    sink: Sink,
    /// Frame bytes not yet written, oldest first; the front one may be partly written.
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    /// The front frame has been partly written, so it must be finished before anything
    /// else (even a close frame) may follow.
    front_started: bool,
    /// The socket said "would block": the connection's task owns writing until it drains
    /// the queue. Nobody else polls the socket meanwhile (the task's waker is registered
    /// there and must not be replaced).
    blocked: bool,
    /// What is queued waits for a [`DeferredFlush`](crate::deferred_flush::DeferredFlush)
    /// and nobody else owes a write: the next frame that may not wait writes it too.
    deferred: bool,
}

impl WriteState {
    /// Writes queued frames until done, blocked, or failed.
    fn write_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = self.queue.len().min(MAX_SLICES);
            for (slice, frame) in slices.iter_mut().zip(self.queue.iter()) {
                *slice = IoSlice::new(frame);
            }
            match self.sink.as_mut().poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => self.consume(written),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn consume(&mut self, mut written: usize) {
        self.queued_bytes = self.queued_bytes.saturating_sub(written);
        while written > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if written < front.len() {
                front.advance(written);
                self.front_started = true;
                return;
            }
            written -= front.len();
            self.queue.pop_front();
            self.front_started = false;
        }
    }

    /// Drops every queued frame that has not started to go out.
    fn drop_unstarted(&mut self) {
        let keep = usize::from(self.front_started);
        self.queue.truncate(keep);
        self.queued_bytes = self.queue.iter().map(Bytes::len).sum();
    }
}

/// State shared by every handle to one connection's outbox.
pub struct OutboxShared {
    state: Mutex<WriteState>,
    /// The connection's task: woken when the socket blocked (for it to take over
    /// writing) and when the connection starts closing.
    task: AtomicWaker,
    limit_bytes: usize,
    /// 0 while open, else the first [`CloseReason`]: read on every push without the lock.
    reason: AtomicU8,
}

impl fmt::Debug for OutboxShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxShared")
            .field("reason", &self.reason())
            .finish_non_exhaustive()
    }
}

impl OutboxShared {
    /// Whether the connection has started closing.
    pub fn is_closing(&self) -> bool {
        self.reason.load(Ordering::Acquire) != 0
    }

    /// Ready with the reason once the connection starts closing; until then the
    /// connection's task is woken when it does. A poll, not a future: an idle
    /// connection's task then holds no waiting state for it.
    pub fn poll_closing(&self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        self.task.register(cx.waker());
        match self.reason() {
            Some(reason) => Poll::Ready(reason),
            None => Poll::Pending,
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
            self.task.wake();
        }
    }

    fn state(&self) -> MutexGuard<'_, WriteState> {
        // Nothing panics while the lock is held; a poisoned lock still holds valid state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A cheap, cloneable handle for sending frames to one connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<OutboxShared>,
}

impl Outbox {
    /// An outbox writing into `sink` (and reading from it for the connection's task),
    /// holding at most `limit_bytes` of unsent frames.
    pub fn new(sink: Sink, limit_bytes: usize) -> Outbox {
        Outbox {
            shared: Arc::new(OutboxShared {
                state: Mutex::new(WriteState {
                    sink,
                    queue: VecDeque::new(),
                    queued_bytes: 0,
                    front_started: false,
                    blocked: false,
                    deferred: false,
                }),
                task: AtomicWaker::new(),
                limit_bytes,
                reason: AtomicU8::new(0),
            }),
        }
    }

    /// Sends a complete wire frame now if the socket takes it, else queues it.
    pub fn push(&self, frame: Bytes) -> Result<(), Closing> {
        if self.enqueue(frame)? {
            self.flush();
        }
        Ok(())
    }

    /// Queues a frame without writing. True means the caller must call
    /// [`Outbox::flush`] once it has queued what it has for this connection; false means
    /// someone else will write it (an earlier caller, or the connection's own task).
    pub fn enqueue(&self, frame: Bytes) -> Result<bool, Closing> {
        let mut state = self.queue_frame(frame)?;
        // Frames that were waiting for a deferred flush go out with this one.
        let owed = state.queue.len() == 1 || state.deferred;
        state.deferred = false;
        Ok(owed && !state.blocked)
    }

    /// Queues a frame that may wait a little (an arrival or departure notice), so that
    /// a burst of them leaves in one write. True means the caller must hand the outbox
    /// to a [`DeferredFlush`](crate::deferred_flush::DeferredFlush); false means a write
    /// is owed already (by a flush to come, the connection's task, or a deferred flush).
    ///
    /// Why: in a storm of arrivals every member of a small room gets a notice per
    /// arrival, tens of milliseconds apart, and one socket write each was most of the
    /// server's work. The frames and their order are unchanged; only the write waits.
    pub fn enqueue_deferred(&self, frame: Bytes) -> Result<bool, Closing> {
        let mut state = self.queue_frame(frame)?;
        let first = state.queue.len() == 1 && !state.blocked;
        if first {
            state.deferred = true;
        }
        Ok(first)
    }

    /// Appends a frame to the queue under the byte limit; the lock stays held for the
    /// caller to decide who writes.
    fn queue_frame(&self, frame: Bytes) -> Result<MutexGuard<'_, WriteState>, Closing> {
        let mut state = self.shared.state();
        // Checked under the lock: once the task has queued its close frame, nothing may
        // follow it.
        if self.shared.is_closing() {
            return Err(Closing);
        }
        let len = frame.len();
        // An empty queue always takes one frame, however large, so the limit can't
        // refuse a frame that a fresh connection could deliver.
        if state.queued_bytes > 0 && state.queued_bytes + len > self.shared.limit_bytes {
            drop(state);
            self.close(CloseReason::SlowConsumer);
            return Err(Closing);
        }
        state.queue.push_back(frame);
        state.queued_bytes += len;
        Ok(state)
    }

    /// Writes what is queued, without waiting: whatever the socket does not take now is
    /// left to the connection's task.
    pub fn flush(&self) {
        // Outside tokio's cooperative budget: it allows a task 128 I/O operations per
        // poll and then answers "pending" without trying the socket, so a fan-out to a
        // thousand connections would hand almost every write to a task wake-up. These
        // writes never wait, so there is nothing for the budget to protect.
        let _ = tokio::task::unconstrained(async { self.flush_within_budget() }).now_or_never();
    }

    fn flush_within_budget(&self) {
        let mut state = self.shared.state();
        state.deferred = false;
        if state.blocked || state.queue.is_empty() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match state.write_queued(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => {
                state.blocked = true;
                drop(state);
                self.shared.task.wake();
            }
            Poll::Ready(Err(_)) => {
                drop(state);
                self.close(CloseReason::PeerGone);
            }
        }
    }

    /// For the connection's task: ready when the socket blocked and the queue has
    /// since been written out (it waits for the socket meanwhile), or with the error
    /// that ended the socket. Pending while writes go straight through.
    pub fn poll_drain_when_blocked(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.shared.state();
        if !state.blocked {
            self.shared.task.register(cx.waker());
            return Poll::Pending;
        }
        let written = state.write_queued(cx);
        if written.is_ready() {
            state.blocked = false;
        }
        written
    }

    /// For the connection's task, at the end: sends what the close reason allows, then
    /// the close frame (if the reason has one), and shuts the write side.
    pub async fn finish(&self, reason: CloseReason, close_frame: Option<Bytes>) -> io::Result<()> {
        {
            let mut state = self.shared.state();
            if !reason.delivers_queued() {
                state.drop_unstarted();
            }
            if let Some(frame) = close_frame {
                state.queued_bytes += frame.len();
                state.queue.push_back(frame);
            }
            // From here on only this task writes, with its own waker.
            state.blocked = true;
        }
        poll_fn(|cx| self.shared.state().write_queued(cx)).await?;
        poll_fn(|cx| self.shared.state().sink.as_mut().poll_shutdown(cx)).await
    }

    /// For the connection's task: reads from the socket.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.shared.state().sink.as_mut().poll_read(cx, buf)
    }

    /// Starts closing the connection (the first reason wins) and wakes its task.
    pub fn close(&self, reason: CloseReason) {
        self.shared.close(reason);
    }

    /// The state shared with the connection's task.
    pub fn shared(&self) -> &Arc<OutboxShared> {
        &self.shared
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.shared.state().queued_bytes
    }
}

/// Flushes outboxes that [`Outbox::enqueue`] asked to be flushed.
pub fn flush_all(dirty: Vec<Outbox>) {
    for outbox in dirty {
        outbox.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, DuplexStream};

    /// An outbox over one end of an in-memory pipe with `capacity` bytes of buffer.
    fn outbox(capacity: usize, limit: usize) -> (Outbox, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(capacity);
        (Outbox::new(Box::pin(ours), limit), theirs)
    }

    #[tokio::test]
    async fn frames_go_straight_into_a_socket_with_room() {
        let (outbox, mut peer) = outbox(1024, 100);
        outbox.push(Bytes::from_static(b"hello ")).expect("open");
        outbox.push(Bytes::from_static(b"world")).expect("open");
        assert_eq!(outbox.queued_bytes(), 0, "nothing waits in the queue");
        let mut got = [0; 11];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn a_full_socket_queues_and_the_task_drains_it_in_order() {
        let (outbox, mut peer) = outbox(4, 100);
        for frame in ["abc", "defg", "hij"] {
            outbox.push(Bytes::from(frame)).expect("open");
        }
        assert_eq!(outbox.queued_bytes(), 6, "the pipe took 4 of 10 bytes");
        let drainer = outbox.clone();
        let drain = tokio::spawn(poll_fn(move |cx| drainer.poll_drain_when_blocked(cx)));
        let mut got = vec![0; 10];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(got, b"abcdefghij");
        drain.await.expect("task").expect("drained");
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_fan_out_to_many_connections_writes_every_one_directly() {
        // More connections than tokio's per-poll budget of I/O operations, all written
        // within one poll of one task, as the journal's delivery does.
        let pairs: Vec<_> = (0..500).map(|_| outbox(1024, 1024)).collect();
        for (outbox, _) in &pairs {
            outbox.push(Bytes::from_static(b"frame")).expect("open");
        }
        let queued = pairs.iter().filter(|(o, _)| o.queued_bytes() > 0).count();
        assert_eq!(queued, 0, "{queued} connections were left to their task");
    }

    #[tokio::test]
    async fn a_client_over_the_byte_limit_is_closed_as_slow() {
        let (outbox, _peer) = outbox(1, 10);
        assert_eq!(outbox.push(Bytes::from_static(b"123456")), Ok(()));
        assert_eq!(outbox.push(Bytes::from_static(b"1234")), Ok(()));
        // The pipe took one byte: 9 are queued, and 2 more would pass the limit.
        assert_eq!(outbox.push(Bytes::from_static(b"12")), Err(Closing));
        assert_eq!(outbox.shared().reason(), Some(CloseReason::SlowConsumer));
        assert!(outbox.shared().is_closing());
        assert_eq!(outbox.push(Bytes::from_static(b"")), Err(Closing));
    }

    #[tokio::test]
    async fn one_oversized_frame_fits_an_empty_queue() {
        let (outbox, _peer) = outbox(1, 4);
        assert_eq!(outbox.push(Bytes::from_static(b"a long frame")), Ok(()));
    }

    #[tokio::test]
    async fn a_slow_consumer_gets_its_started_frame_finished_then_the_close() {
        let (outbox, mut peer) = outbox(2, 1000);
        outbox.push(Bytes::from_static(b"abcd")).expect("open");
        outbox.push(Bytes::from_static(b"efgh")).expect("open");
        let finisher = outbox.clone();
        let finish = tokio::spawn(async move {
            finisher
                .finish(CloseReason::SlowConsumer, Some(Bytes::from_static(b"!")))
                .await
        });
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.expect("read");
        assert_eq!(
            got, b"abcd!",
            "the rest of the started frame, then the close"
        );
        finish.await.expect("task").expect("finished");
    }

    #[tokio::test]
    async fn the_first_close_reason_wins() {
        let (outbox, _peer) = outbox(4, 4);
        outbox.close(CloseReason::Shutdown);
        outbox.close(CloseReason::SlowConsumer);
        assert_eq!(outbox.shared().reason(), Some(CloseReason::Shutdown));
    }

    #[tokio::test]
    async fn the_task_is_woken_by_the_close_and_sees_its_reason() {
        use std::time::Duration;
        let (outbox, _peer) = outbox(4, 10);
        let shared = outbox.shared().clone();
        let waiting = tokio::spawn(poll_fn(move |cx| shared.poll_closing(cx)));
        tokio::task::yield_now().await;
        outbox.close(CloseReason::Idle);
        let reason = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken by the close")
            .expect("task");
        assert_eq!(reason, CloseReason::Idle);
        let later = poll_fn(|cx| outbox.shared().poll_closing(cx)).await;
        assert_eq!(later, CloseReason::Idle, "a later poll is ready at once");
    }
}
