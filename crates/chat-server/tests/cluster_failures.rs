//! A cluster losing a part: a node killed with `kill -9` takes its users' presence with it
//! (each announced as leaving once, within 15 s) and loses nothing stored.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ServerFrame, SystemEvent};
use common::redis::RedisSpot;
use common::{Backend, ChildServer, Client};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

async fn open(node: &ChildServer, name: &str) -> Client {
    Client::open(&node.ws_url(&format!("?name={name}"))).await
}

/// The next server frame, waiting until `deadline` at most (the common helper's
/// per-frame limit is shorter than what a lapsed lease may take).
async fn frame_before(client: &mut Client, deadline: Instant) -> ServerFrame {
    loop {
        let next = tokio::time::timeout_at(deadline, client.ws.next())
            .await
            .expect("nothing arrived in time");
        if let Some(Ok(tungstenite::Message::Text(text))) = next {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_leave_once_within_15_s_and_nothing_stored_is_lost() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Some(redis) = RedisSpot::shared() else {
        return;
    };
    let nodes: Vec<ChildServer> = (0..3)
        .map(|_| ChildServer::spawn_node(&backend, &redis))
        .collect();
    let mut watcher = open(&nodes[0], "Watcher").await;
    watcher.join("hall").await;
    let mut speaker = open(&nodes[1], "Speaker").await;
    speaker.join("hall").await;
    let mut doomed = Vec::new();
    for name in ["Una", "Vic"] {
        let mut client = open(&nodes[2], name).await;
        client.join("hall").await;
        doomed.push(client);
    }
    let mut arrived = HashSet::new();
    while arrived.len() < 3 {
        if let ServerFrame::System {
            event: SystemEvent::Join,
            user,
            ..
        } = watcher.recv().await
        {
            arrived.insert(user.name);
        }
    }
    // Something stored through the doomed node, seen by its sender.
    doomed[0].say("hall", "before the crash", Some("c1")).await;
    doomed[0]
        .recv_until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    client_ref: Some(_),
                    ..
                }
            )
        })
        .await;

    nodes[2].signal("KILL");
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(15);
    let mut left = Vec::new();
    while left.len() < 2 {
        match frame_before(&mut watcher, deadline).await {
            ServerFrame::System {
                event: SystemEvent::Leave,
                user,
                ..
            } => left.push(user.name),
            ServerFrame::Message { message, .. } => assert_eq!(message.text, "before the crash"),
            other => panic!("unexpected {other:?}"),
        }
    }
    left.sort();
    assert_eq!(left, ["Una", "Vic"]);
    eprintln!("both left {:?} after the kill", killed_at.elapsed());
    // Each once: the speaker's next message comes through the same channel after any
    // further notice would have.
    speaker.say("hall", "after the crash", None).await;
    loop {
        match watcher.recv().await {
            ServerFrame::Message { message, .. } if message.text == "after the crash" => break,
            ServerFrame::Message { .. } => {}
            other => panic!("expected the message, got {other:?}"),
        }
    }

    // Nothing stored is lost: the message the doomed node stored is in the history.
    let mut reader = open(&nodes[1], "Reader").await;
    match reader.join("hall").await {
        ServerFrame::Joined { history, .. } => {
            assert!(history.iter().any(|m| m.text == "before the crash"));
        }
        _ => unreachable!(),
    }
}
