//! The only code that writes to a socket: it drains the connection's outbox in batches
//! (`feed` many frames, `flush` once), sends pings, and sends the close frame.

use crate::outbox::{CloseReason, OutboxReceiver, OutboxShared};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Bytes gathered into one batch before flushing; more frames wait for the next batch.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How long a closing connection may take to take its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocket, Message>;

/// Writes until the connection starts closing, then says goodbye with the right code.
pub async fn run(
    mut sink: Sink,
    mut rx: OutboxReceiver,
    shared: Arc<OutboxShared>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let closing = shared.closing().clone();
    loop {
        let job = tokio::select! {
            biased;
            () = closing.cancelled() => break,
            frame = rx.recv() => match frame {
                Some(frame) => Job::Batch(frame),
                None => break,
            },
            _ = ping.tick() => Job::Ping,
        };
        // A write blocked on a peer that is not reading must not delay the close.
        let written = tokio::select! {
            biased;
            () = closing.cancelled() => break,
            result = job.run(&mut sink, &mut rx) => result,
        };
        match written {
            Ok(bytes) => shared.written(bytes),
            Err(_) => {
                shared.close(CloseReason::PeerGone);
                return;
            }
        }
    }
    let reason = shared.reason().unwrap_or(CloseReason::PeerGone);
    let _ = tokio::time::timeout(CLOSE_GRACE, say_goodbye(&mut sink, &mut rx, reason)).await;
}

enum Job {
    Batch(Utf8Bytes),
    Ping,
}

impl Job {
    /// Performs the write; returns the outbox bytes it consumed.
    async fn run(self, sink: &mut Sink, rx: &mut OutboxReceiver) -> Result<usize, axum::Error> {
        match self {
            Job::Batch(first) => write_batch(sink, rx, first).await,
            Job::Ping => sink
                .send(Message::Ping(Default::default()))
                .await
                .map(|()| 0),
        }
    }
}

/// Writes `first` and whatever else is queued, up to [`MAX_BATCH_BYTES`], with one flush.
async fn write_batch(
    sink: &mut Sink,
    rx: &mut OutboxReceiver,
    first: Utf8Bytes,
) -> Result<usize, axum::Error> {
    let mut bytes = first.len();
    sink.feed(Message::Text(first)).await?;
    while bytes < MAX_BATCH_BYTES {
        let Ok(frame) = rx.try_recv() else { break };
        bytes += frame.len();
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await?;
    Ok(bytes)
}

/// Sends what is still queued (unless the peer is too slow for it) and the close frame.
async fn say_goodbye(sink: &mut Sink, rx: &mut OutboxReceiver, reason: CloseReason) {
    if !matches!(reason, CloseReason::SlowConsumer | CloseReason::PeerGone) {
        while let Ok(frame) = rx.try_recv() {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
    }
    if let Some((code, text)) = reason.close_frame() {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(text),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}
