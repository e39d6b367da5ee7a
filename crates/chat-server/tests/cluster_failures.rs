//! A cluster losing a part: a node killed with `kill -9` takes its users' presence with it
//! (each announced as leaving once, within 15 s) and loses nothing stored; Redis killed
//! and restarted in the middle of traffic loses no message and repeats none.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ServerFrame, SystemEvent};
use common::redis::{OwnRedis, RedisSpot};
use common::{Backend, ChildServer, Client, http_get};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
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

fn addr(node: &ChildServer) -> SocketAddr {
    node.addr.parse().unwrap()
}

/// Waits until every node's `/healthz` says `redis` is `state` (polling a condition,
/// with a deadline: how long a node takes to notice is what is being waited for).
async fn redis_seen_as(nodes: &[ChildServer], state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in nodes {
        loop {
            let (status, body) = http_get(addr(node), "/healthz", &[]).await;
            assert_eq!(status, 200, "{body}");
            let health: serde_json::Value = serde_json::from_str(&body).unwrap();
            if health["redis"] == state {
                break;
            }
            assert!(Instant::now() < deadline, "redis never {state}: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
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
    let (_, body) = http_get(addr(&nodes[0]), "/api/rooms", &[]).await;
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["online"], 2, "the watcher and the speaker: {body}");
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

/// The next phase a sender has seen stored.
async fn stored_next(stored: &mut mpsc::UnboundedReceiver<usize>) -> Option<usize> {
    tokio::time::timeout(Duration::from_secs(60), stored.recv())
        .await
        .expect("a sender did not get its phase stored")
}

/// Reads frames until `done` says so, keeping the seq of every message of `room`.
async fn read_until(
    client: &mut Client,
    seqs: &mut Vec<u64>,
    deadline: Instant,
    mut done: impl FnMut(&ServerFrame) -> bool,
) {
    loop {
        let frame = frame_before(client, deadline).await;
        if let ServerFrame::Message { message, .. } = &frame {
            seqs.push(message.seq);
        }
        if done(&frame) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_traffic_loses_and_repeats_nothing() {
    // The traffic of the ordering test (10 senders on 3 nodes, 2000 messages), in four
    // phases: Redis is killed during the first, away for the second, restarted just
    // before the third, and back for the fourth.
    const SENDERS: usize = 10;
    const PER_PHASE: usize = 50;
    const PHASES: usize = 4;
    const TOTAL: usize = SENDERS * PER_PHASE * PHASES;
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let spot = redis.spot();
    let nodes: Vec<ChildServer> = (0..3)
        .map(|_| ChildServer::spawn_node(&backend, &spot))
        .collect();
    redis_seen_as(&nodes, "up").await;
    let mut watcher = open(&nodes[0], "Watcher").await;
    watcher.join("storm").await;

    // Each sender sends a phase, waits until its last message of it is stored (its
    // own copy came back), says so, and waits for the gate of the next phase.
    let (gate, gates) = watch::channel(0usize);
    let (stored_tx, mut stored) = mpsc::unbounded_channel::<usize>();
    // Everyone is in the room before anyone speaks.
    let mut clients = Vec::new();
    for i in 0..SENDERS {
        let mut client = open(&nodes[i % 3], &format!("s{i}")).await;
        client.join("storm").await;
        clients.push(client);
    }
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let mut gates = gates.clone();
        let stored_tx = stored_tx.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut seqs = Vec::with_capacity(TOTAL);
            for phase in 0..PHASES {
                while *gates.borrow_and_update() < phase {
                    tokio::select! {
                        changed = gates.changed() => changed.unwrap(),
                        frame = frame_before(&mut client, deadline) => {
                            if let ServerFrame::Message { message, .. } = frame {
                                seqs.push(message.seq);
                            }
                        }
                    }
                }
                let end = format!("end{phase}");
                for n in 0..PER_PHASE {
                    let last = (n + 1 == PER_PHASE).then_some(end.as_str());
                    client.say("storm", &format!("{i}:{phase}:{n}"), last).await;
                }
                read_until(
                    &mut client,
                    &mut seqs,
                    deadline,
                    |f| matches!(f, ServerFrame::Message { client_ref: Some(r), .. } if *r == end),
                )
                .await;
                stored_tx.send(phase).unwrap();
            }
            while seqs.len() < TOTAL {
                read_until(&mut client, &mut seqs, deadline, |_| true).await;
            }
            // Still connected: the presence check below counts everyone.
            (seqs, client)
        }));
    }

    drop(stored_tx);
    // Redis dies while the first phase is on its way.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut watched = Vec::with_capacity(TOTAL);
    while watched.len() < PER_PHASE {
        read_until(&mut watcher, &mut watched, deadline, |_| true).await;
    }
    redis.kill();
    redis_seen_as(&nodes, "down").await;
    for _ in 0..SENDERS {
        assert_eq!(stored_next(&mut stored).await, Some(0));
    }
    gate.send(1).unwrap();
    for _ in 0..SENDERS {
        assert_eq!(stored_next(&mut stored).await, Some(1));
    }
    redis.restart();
    gate.send(2).unwrap();
    for _ in 0..SENDERS {
        assert_eq!(stored_next(&mut stored).await, Some(2));
    }
    redis_seen_as(&nodes, "up").await;
    gate.send(3).unwrap();

    let expected: Vec<u64> = (1..=TOTAL as u64).collect();
    let mut senders = Vec::new();
    for task in tasks {
        let (seqs, client) = task.await.unwrap();
        assert_eq!(seqs, expected, "every message, in order, once");
        senders.push(client);
    }
    while watched.len() < TOTAL {
        read_until(&mut watcher, &mut watched, deadline, |_| true).await;
    }
    assert_eq!(watched, expected, "the watcher too");

    // Presence is whole again: a newcomer sees everyone.
    let mut newcomer = open(&nodes[1], "Newcomer").await;
    match newcomer.join("storm").await {
        ServerFrame::Joined { members, .. } => assert_eq!(members.len(), SENDERS + 2),
        _ => unreachable!(),
    }
    let (_, body) = http_get(addr(&nodes[2]), "/api/rooms", &[]).await;
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["online"], SENDERS + 2, "{body}");
}

/// The pair's grace holds across nodes: when the node of one member dies, the other is
/// told the stranger left once the dead node is swept and the grace is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_whose_member_s_node_died_closes_after_the_grace() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Some(redis) = RedisSpot::shared() else {
        return;
    };
    let args = [
        "--redis-url",
        &redis.url,
        "--redis-namespace",
        &redis.namespace,
        "--pair-grace",
        "1s",
    ];
    let nodes: Vec<ChildServer> = (0..2)
        .map(|_| ChildServer::spawn_with(&backend, None, &args))
        .collect();
    let mut ada = open(&nodes[0], "Ada").await;
    let mut bob = open(&nodes[1], "Bob").await;
    ada.queue(&[]).await;
    bob.queue(&[]).await;
    let a = ada.matched().await;
    let b = bob.matched().await;
    assert_eq!(a.room, b.room);
    bob.say(&b.room, "are you there?", None).await;
    ada.expect_text(&a.room, "are you there?").await;

    nodes[1].signal("KILL");
    // Swept within 12 s, then the 1 s grace: the next thing Ada hears.
    let deadline = Instant::now() + Duration::from_secs(20);
    match frame_before(&mut ada, deadline).await {
        ServerFrame::System {
            event: SystemEvent::Leave,
            user,
            room,
            ..
        } => assert_eq!((room, user), (a.room.clone(), a.peer.clone())),
        other => panic!("expected the stranger to leave, got {other:?}"),
    }
    ada.say(&a.room, "hello?", Some("late")).await;
    assert_eq!(
        ada.error().await,
        (
            chat_protocol::ErrorCode::RoomClosed,
            Some("late".to_owned())
        )
    );
}
