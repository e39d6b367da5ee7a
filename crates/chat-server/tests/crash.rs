//! `kill -9` in the middle of traffic loses nothing that anyone saw, and clients that come
//! back with `since` get exactly what they missed.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, Message, ServerFrame};
use common::{Backend, ChildServer, Socket, next_frame};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite;

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 200;

fn frame(frame: &ClientFrame) -> tungstenite::Message {
    tungstenite::Message::text(serde_json::to_string(frame).unwrap())
}

async fn connect(url: &str) -> (Socket, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match next_frame(&mut ws).await {
        ServerFrame::Welcome { session, .. } => (ws, session),
        other => panic!("{other:?}"),
    }
}

/// Sends up to PER_CLIENT messages while reading, until the server dies; returns every
/// message this client received.
async fn chat_until_killed(mut ws: Socket, me: usize, delivered: Arc<AtomicUsize>) -> Vec<Message> {
    ws.send(frame(&ClientFrame::Join {
        room: "crash".into(),
        since: None,
    }))
    .await
    .unwrap();
    let mut received = Vec::new();
    let mut sent = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    loop {
        tokio::select! {
            _ = pace.tick(), if sent < PER_CLIENT => {
                let text = format!("{me}:{sent}");
                let send = ClientFrame::Send { room: "crash".into(), text, client_ref: None };
                if ws.send(frame(&send)).await.is_err() {
                    return received;
                }
                sent += 1;
            }
            next = ws.next() => match next {
                Some(Ok(tungstenite::Message::Text(text))) => {
                    if let Ok(ServerFrame::Message { message, .. }) = serde_json::from_str(&text) {
                        received.push(message);
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                // The server was killed: the connection breaks without a close frame.
                Some(Err(_)) | None => return received,
            },
        }
    }
}

async fn kill_9_loses_nothing_anyone_saw(backend: Backend) {
    let server = ChildServer::spawn(&backend);
    let mut sessions = Vec::new();
    let mut tasks = Vec::new();
    let delivered = Arc::new(AtomicUsize::new(0));
    for me in 0..CLIENTS {
        let (ws, session) = connect(&server.ws_url(&format!("?name=c{me}"))).await;
        sessions.push(session);
        tasks.push(tokio::spawn(chat_until_killed(ws, me, delivered.clone())));
    }
    // Kill it in the middle of traffic: once deliveries are flowing, however slow the
    // machine (a fixed pause was sometimes over before the first message).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while delivered.load(Ordering::Relaxed) < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no traffic to interrupt"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("KILL");
    let mut seen: Vec<Vec<Message>> = Vec::new();
    for task in tasks {
        seen.push(
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let total_seen: usize = seen.iter().map(Vec::len).sum();
    assert!(total_seen > 0, "the kill came before any traffic");
    drop(server);

    let server = ChildServer::spawn(&backend);
    // Everything stored, read back from the restarted server.
    let (mut reader, _) = connect(&server.ws_url("?name=auditor")).await;
    reader
        .send(frame(&ClientFrame::Join {
            room: "crash".into(),
            since: Some(0),
        }))
        .await
        .unwrap();
    let stored = match next_frame(&mut reader).await {
        ServerFrame::Joined {
            history, recovered, ..
        } => {
            assert_eq!(recovered, Some(true));
            history
        }
        other => panic!("{other:?}"),
    };
    let stored_seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        stored_seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gaps"
    );
    let by_seq: HashMap<u64, &Message> = stored.iter().map(|m| (m.seq, m)).collect();
    for message in seen.iter().flatten() {
        assert_eq!(
            by_seq.get(&message.seq),
            Some(&message),
            "a message someone received is stored, same seq"
        );
    }

    // Each client comes back as itself and recovers exactly what it missed.
    for (me, session) in sessions.iter().enumerate() {
        let (mut ws, _) = connect(&server.ws_url(&format!("?session={session}"))).await;
        let last_seen = seen[me].last().map_or(0, |m| m.seq);
        ws.send(frame(&ClientFrame::Join {
            room: "crash".into(),
            since: Some(last_seen),
        }))
        .await
        .unwrap();
        match next_frame(&mut ws).await {
            ServerFrame::Joined {
                history, recovered, ..
            } => {
                assert_eq!(recovered, Some(true));
                let expected: Vec<&Message> = stored.iter().filter(|m| m.seq > last_seen).collect();
                assert_eq!(history.iter().collect::<Vec<_>>(), expected, "client {me}");
            }
            other => panic!("{other:?}"),
        }
    }
    eprintln!(
        "crash test: {} stored, {total_seen} deliveries seen before the kill",
        stored.len()
    );
}

on_every_backend!(kill_9_loses_nothing_anyone_saw);
