//! The only code that writes to a socket: it drains the connection's outbox in batches
//! (`feed` many frames, `flush` once), sends pings, and sends the close frame.
//!
//! This loop runs once per delivery, so it is kept to receive, write: pings and close
//! requests arrive through the same queue, and the close signal is only watched while a
//! write is blocked on a peer that does not read.

use crate::outbox::{CloseReason, OutboxReceiver, OutboxShared, Outgoing};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Queue items whose memory a writer keeps between bursts.
const RETAINED_BATCH_CAPACITY: usize = 64;
/// How long a closing connection may take to take its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocket, Message>;

/// Writes until the connection starts closing, then says goodbye with the right code.
pub async fn run(mut sink: Sink, mut rx: OutboxReceiver, shared: Arc<OutboxShared>) {
    let closing = shared.wait_closing();
    tokio::pin!(closing);
    let mut batch = VecDeque::new();
    while !shared.is_closing() {
        rx.take_all(&mut batch).await;
        let written = tokio::select! {
            biased;
            result = write(&mut sink, &mut batch) => result,
            // Reached only while the write is blocked: a peer that reads nothing must
            // not keep its connection open.
            () = &mut closing => break,
        };
        match written {
            Ok(bytes) => shared.written(bytes),
            Err(_) => {
                shared.close(CloseReason::PeerGone);
                return;
            }
        }
        if batch.capacity() > RETAINED_BATCH_CAPACITY {
            // A burst is over: give its memory back rather than keep it per connection.
            batch = VecDeque::new();
        }
    }
    let reason = shared.reason().unwrap_or(CloseReason::PeerGone);
    let goodbye = say_goodbye(&mut sink, &mut rx, &mut batch, reason);
    let _ = tokio::time::timeout(CLOSE_GRACE, goodbye).await;
}

/// Writes every item of `batch` with one flush at the end (tungstenite still writes out
/// whenever its buffer passes the write buffer size). Returns the frame bytes written,
/// for the outbox's accounting.
async fn write(sink: &mut Sink, batch: &mut VecDeque<Outgoing>) -> Result<usize, axum::Error> {
    let mut bytes = 0;
    while let Some(item) = batch.pop_front() {
        bytes += feed(sink, item).await?;
    }
    sink.flush().await?;
    Ok(bytes)
}

async fn feed(sink: &mut Sink, item: Outgoing) -> Result<usize, axum::Error> {
    match item {
        Outgoing::Frame(frame) => {
            let len = frame.len();
            sink.feed(Message::Text(frame)).await?;
            Ok(len)
        }
        Outgoing::Ping => {
            sink.feed(Message::Ping(Default::default())).await?;
            Ok(0)
        }
        Outgoing::Wake => Ok(0),
    }
}

/// Sends what is still queued (unless the peer is too slow for it) and the close frame.
async fn say_goodbye(
    sink: &mut Sink,
    rx: &mut OutboxReceiver,
    batch: &mut VecDeque<Outgoing>,
    reason: CloseReason,
) {
    if !matches!(reason, CloseReason::SlowConsumer | CloseReason::PeerGone) {
        loop {
            for item in batch.drain(..) {
                if let Outgoing::Frame(frame) = item
                    && sink.feed(Message::Text(frame)).await.is_err()
                {
                    return;
                }
            }
            if !rx.try_take_all(batch) {
                break;
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
