//! A client that never reads is closed with 1013 and never slows anyone else down.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ServerFrame, SystemEvent};
use common::{Backend, TestServer, close_code, next_frame};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::MaybeTlsStream;

const READERS: usize = 20;
/// The sender stays at most this many messages ahead of the slowest healthy reader, so a
/// healthy reader is never more than WINDOW x 2 KB (well under the queue limit) behind,
/// however busy the machine is. Only the client that reads nothing falls further.
const WINDOW: u64 = 32;
/// How long the sender waits for the healthy readers to catch up before failing.
const STALL: Duration = Duration::from_secs(10);
/// Sends stop here even if the slow client was never closed, so the test fails, not hangs.
const MAX_MESSAGES: usize = 20_000;

fn micros_since(start: Instant) -> u128 {
    start.elapsed().as_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_and_the_others_keep_up() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| c.max_queue_bytes = 256 * 1024).await;
    let start = Instant::now();

    // The slow client: a small receive buffer so the kernel does not hide its slowness.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (mut slow, _) =
        tokio_tungstenite::client_async(server.ws_url("?name=slow"), MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    let slow_user = match next_frame(&mut slow).await {
        ServerFrame::Welcome { user, .. } => user,
        other => panic!("{other:?}"),
    };
    let join = serde_json::to_string(&ClientFrame::Join {
        room: "room".into(),
        since: None,
    })
    .unwrap();
    futures_util::SinkExt::send(&mut slow, join.into())
        .await
        .unwrap();
    next_frame(&mut slow).await; // joined; from here on it reads nothing

    let slow_gone = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..READERS).map(|_| AtomicU64::new(0)).collect());
    let mut readers = Vec::new();
    for r in 0..READERS {
        let progress = progress.clone();
        let mut client = server.connect(&format!("reader{r}")).await;
        client.join("room").await;
        let slow_gone = slow_gone.clone();
        let slow_id = slow_user.id.clone();
        readers.push(tokio::spawn(async move {
            let (mut received, mut worst) = (0u64, 0u128);
            loop {
                match client.recv().await {
                    ServerFrame::Message { message, .. } => {
                        if message.text == "END" {
                            return (received, worst);
                        }
                        let sent: u128 = message.text.split(' ').next().unwrap().parse().unwrap();
                        worst = worst.max(micros_since(start) - sent);
                        received += 1;
                        assert_eq!(message.seq, received, "no message lost or reordered");
                        progress[r].store(received, Ordering::SeqCst);
                    }
                    ServerFrame::System {
                        event: SystemEvent::Leave,
                        user,
                        ..
                    } if user.id == slow_id => slow_gone.store(true, Ordering::SeqCst),
                    _ => {}
                }
            }
        }));
    }

    let mut sender = server.connect("sender").await;
    sender.join("room").await;
    let padding = "x".repeat(2000);
    let mut sent = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(1));
    while !slow_gone.load(Ordering::SeqCst) && sent < MAX_MESSAGES {
        pace.tick().await;
        let waiting_since = Instant::now();
        while progress
            .iter()
            .map(|p| p.load(Ordering::SeqCst))
            .min()
            .unwrap_or(0)
            + WINDOW
            < sent as u64
        {
            assert!(
                waiting_since.elapsed() < STALL,
                "healthy readers stalled at message {sent}: fan-out is waiting on someone"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sender
            .say("room", &format!("{} {padding}", micros_since(start)), None)
            .await;
        sent += 1;
        // The sender reads too, like any healthy client.
        while let Ok(Some(_)) = tokio::time::timeout(
            Duration::ZERO,
            futures_util::StreamExt::next(&mut sender.ws),
        )
        .await
        {}
    }
    assert!(
        slow_gone.load(Ordering::SeqCst),
        "the slow client was never closed after {sent} messages"
    );
    sender.say("room", "END", None).await;

    for reader in readers {
        let (received, worst) = reader.await.unwrap();
        assert_eq!(received, sent as u64, "every reader got every message");
        assert!(
            worst < 1_000_000,
            "a reader waited {worst} µs for a message"
        );
    }
    // The slow client, reading at last, finds its data and then close code 1013.
    assert_eq!(close_code(&mut slow).await, 1013);
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("chat_slow_consumer_closes_total 1\n"),
        "the close is counted:\n{metrics}"
    );
    eprintln!("slow client closed after {sent} messages of 2 KB");
}
