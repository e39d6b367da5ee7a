//! Writes that may wait a little: outboxes holding only frames queued with
//! [`Outbox::enqueue_deferred`] are flushed together, once per short window.
//!
//! Why: below the big-room threshold every arrival and departure is a `system` frame to
//! every other member. In a storm (5000 people connecting into rooms of 50, or all of
//! them coming back after a restart) the notices reach each connection tens of
//! milliseconds apart, and a socket write per notice was most of the server's CPU. Held
//! for one window, a connection's notices leave in one write. A frame that may not wait
//! (a message, a reply) takes the held notices with it, so nothing is reordered, and
//! nothing waits longer than the window.

use crate::outbox::{Outbox, flush_all};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a notice may wait for others to share its write. Measured (BENCHMARKS.md,
/// "Join storms and big rooms"): 100 ms halved a storm's CPU but flushed thousands of
/// connections in one burst at the end of each window, and the messages that arrived
/// meanwhile waited for it (the reconnect storm's p99 went from about 90 to 250 ms);
/// 20 ms keeps those bursts short and still saves a quarter to a half.
pub const NOTICE_WINDOW: Duration = Duration::from_millis(20);

/// Outboxes waiting for the window's flush, and the window.
#[derive(Debug)]
pub struct DeferredFlush {
    window: Duration,
    waiting: Arc<Mutex<Vec<Outbox>>>,
}

impl DeferredFlush {
    pub fn new(window: Duration) -> DeferredFlush {
        DeferredFlush {
            window,
            waiting: Arc::default(),
        }
    }

    /// Flushes `outboxes` at the end of the current window, starting one when none is
    /// open. Outside a tokio runtime (nothing to wait with) they are flushed now.
    pub fn defer(&self, outboxes: Vec<Outbox>) {
        if outboxes.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            flush_all(outboxes);
            return;
        };
        let opens_window = {
            let mut waiting = lock(&self.waiting);
            let opens = waiting.is_empty();
            waiting.extend(outboxes);
            opens
        };
        if opens_window {
            let waiting = self.waiting.clone();
            let window = self.window;
            // One short-lived task per window with something in it: no timer runs while
            // nothing waits.
            runtime.spawn(async move {
                tokio::time::sleep(window).await;
                let due = std::mem::take(&mut *lock(&waiting));
                flush_all(due);
            });
        }
    }
}

fn lock(waiting: &Mutex<Vec<Outbox>>) -> std::sync::MutexGuard<'_, Vec<Outbox>> {
    // Nothing panics while the lock is held; a poisoned list is still a valid list.
    waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, DuplexStream};

    fn outbox() -> (Outbox, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1024);
        (Outbox::new(Box::pin(ours), 1024), theirs)
    }

    fn defer_frame(flusher: &DeferredFlush, outbox: &Outbox, frame: &'static [u8]) {
        if outbox
            .enqueue_deferred(Bytes::from_static(frame))
            .expect("open")
        {
            flusher.defer(vec![outbox.clone()]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn notices_of_one_window_leave_together_when_it_ends() {
        let flusher = DeferredFlush::new(Duration::from_millis(100));
        let (outbox, mut peer) = outbox();
        defer_frame(&flusher, &outbox, b"one ");
        tokio::time::sleep(Duration::from_millis(60)).await;
        defer_frame(&flusher, &outbox, b"two ");
        assert_eq!(outbox.queued_bytes(), 8, "both wait for the window");
        let start = tokio::time::Instant::now();
        let mut got = [0; 8];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"one two ");
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(40),
            "the first one's window"
        );
        // The next notice opens a window of its own.
        defer_frame(&flusher, &outbox, b"three");
        assert_eq!(outbox.queued_bytes(), 5);
        let mut got = [0; 5];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"three");
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_that_may_not_wait_takes_the_notices_with_it_in_order() {
        let flusher = DeferredFlush::new(Duration::from_secs(3600));
        let (outbox, mut peer) = outbox();
        defer_frame(&flusher, &outbox, b"notice ");
        outbox.push(Bytes::from_static(b"message")).expect("open");
        assert_eq!(outbox.queued_bytes(), 0, "written at once, notice first");
        let mut got = [0; 14];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"notice message");
        // The window's own flush later finds nothing to write.
        tokio::time::sleep(Duration::from_secs(3601)).await;
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_notice_behind_a_pending_write_needs_no_window() {
        let flusher = DeferredFlush::new(Duration::from_secs(3600));
        let (outbox, mut peer) = outbox();
        // A caller queued a frame and owes its flush (a batch being delivered).
        assert_eq!(outbox.enqueue(Bytes::from_static(b"msg ")), Ok(true));
        assert_eq!(
            outbox.enqueue_deferred(Bytes::from_static(b"notice")),
            Ok(false),
            "the owed flush writes it"
        );
        outbox.flush();
        let mut got = [0; 10];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"msg notice");
        drop(flusher);
    }

    #[test]
    fn outside_a_runtime_notices_go_out_at_once() {
        let flusher = DeferredFlush::new(Duration::from_secs(3600));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (outbox, peer) = runtime.block_on(async { outbox() });
        defer_frame(&flusher, &outbox, b"notice");
        assert_eq!(outbox.queued_bytes(), 0);
        drop(peer);
    }
}
