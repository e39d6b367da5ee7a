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
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a notice may wait for others to share its write: short for a person (an
/// arrival shown a tenth of a second late), long next to the gaps between arrivals in a
/// storm.
pub const NOTICE_WINDOW: Duration = Duration::from_millis(100);

/// Outboxes whose windows end this close together are flushed in one wake-up.
const SLOT: Duration = Duration::from_millis(5);

/// Outboxes waiting for their window to end, and the window.
///
/// Each outbox's window starts with its own first notice, and they are flushed as they
/// fall due, a few milliseconds' worth at a time. Why not one window for all: its end
/// flushed every connection a storm had touched in one go, thousands of socket writes
/// in one poll, and a message that arrived meanwhile waited for all of them (measured:
/// the reconnect storm's p99 went from about 90 to 250 ms).
#[derive(Debug)]
pub struct DeferredFlush {
    window: Duration,
    waiting: Arc<Mutex<Waiting>>,
}

#[derive(Debug, Default)]
struct Waiting {
    /// In the order their windows end (every window is as long).
    due: VecDeque<(Instant, Outbox)>,
    /// A task is flushing them as they fall due.
    flusher: bool,
}

impl DeferredFlush {
    pub fn new(window: Duration) -> DeferredFlush {
        DeferredFlush {
            window,
            waiting: Arc::default(),
        }
    }

    /// Flushes `outboxes` once their window has passed. Outside a tokio runtime
    /// (nothing to wait with) they are flushed now.
    pub fn defer(&self, outboxes: Vec<Outbox>) {
        if outboxes.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            flush_all(outboxes);
            return;
        };
        let due = Instant::now() + self.window;
        let start_flusher = {
            let mut waiting = lock(&self.waiting);
            waiting.due.extend(outboxes.into_iter().map(|o| (due, o)));
            !std::mem::replace(&mut waiting.flusher, true)
        };
        if start_flusher {
            // Runs while something waits, and ends when nothing does: an idle server
            // has no timer for this.
            runtime.spawn(flush_as_due(self.waiting.clone()));
        }
    }
}

/// Flushes the waiting outboxes as their windows end, until none waits.
async fn flush_as_due(waiting: Arc<Mutex<Waiting>>) {
    loop {
        let next = {
            let mut waiting = lock(&waiting);
            match waiting.due.front() {
                Some((due, _)) => *due,
                None => {
                    waiting.flusher = false;
                    return;
                }
            }
        };
        tokio::time::sleep_until(next).await;
        let until = Instant::now() + SLOT;
        let due: Vec<Outbox> = {
            let mut waiting = lock(&waiting);
            let count = waiting
                .due
                .iter()
                .take_while(|(due, _)| *due <= until)
                .count();
            waiting
                .due
                .drain(..count)
                .map(|(_, outbox)| outbox)
                .collect()
        };
        flush_all(due);
    }
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
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
    async fn each_outbox_waits_its_own_window_from_its_first_notice() {
        let flusher = DeferredFlush::new(Duration::from_millis(100));
        let (early, mut early_peer) = outbox();
        let (late, mut late_peer) = outbox();
        let start = tokio::time::Instant::now();
        defer_frame(&flusher, &early, b"early");
        tokio::time::sleep(Duration::from_millis(50)).await;
        defer_frame(&flusher, &late, b"late!");
        let mut got = [0; 5];
        early_peer.read_exact(&mut got).await.expect("read");
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(late.queued_bytes(), 5, "the later one is not due yet");
        late_peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"late!");
        assert_eq!(start.elapsed(), Duration::from_millis(150));
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
