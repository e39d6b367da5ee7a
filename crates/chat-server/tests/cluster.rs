//! Several nodes on one PostgreSQL and one Redis behave as one server: messages, typing,
//! presence and `members`, `system` notices once per user, direct messages and
//! `/api/rooms`, and the line of strangers, each checked with the users on different
//! nodes (child processes).
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ServerFrame, SystemEvent, User};
use common::redis::RedisSpot;
use common::{Backend, ChildServer, Client, Paired, http_get};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Three nodes on a fresh database and a fresh Redis namespace, or `None` (skipped)
/// where PostgreSQL or Redis is missing.
async fn three_nodes() -> Option<(Backend, Vec<ChildServer>)> {
    let backend = Backend::postgres().await?;
    let redis = RedisSpot::shared()?;
    let nodes = (0..3)
        .map(|_| ChildServer::spawn_node(&backend, &redis))
        .collect();
    Some((backend, nodes))
}

async fn open(node: &ChildServer, name: &str) -> Client {
    Client::open(&node.ws_url(&format!("?name={name}"))).await
}

fn addr(node: &ChildServer) -> SocketAddr {
    node.addr.parse().unwrap()
}

fn members(joined: &ServerFrame) -> Vec<String> {
    match joined {
        ServerFrame::Joined { members, .. } => {
            let mut names: Vec<String> = members.iter().map(|u| u.name.clone()).collect();
            names.sort();
            names
        }
        other => panic!("expected joined, got {other:?}"),
    }
}

async fn next_system(client: &mut Client) -> (SystemEvent, User) {
    match client
        .recv_until(|f| matches!(f, ServerFrame::System { .. }))
        .await
    {
        ServerFrame::System { event, user, .. } => (event, user),
        _ => unreachable!(),
    }
}

/// The next frame that is not a pong or typing must be this message.
async fn next_is_message(client: &mut Client, text: &str) {
    loop {
        match client.recv().await {
            ServerFrame::Message { message, .. } => {
                assert_eq!(message.text, text, "expected {text:?} next");
                return;
            }
            ServerFrame::Pong => {}
            other => panic!("expected the message {text:?} next, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_members_messages_and_typing_span_the_nodes() {
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut ann = open(&nodes[0], "Ann").await;
    let mut bob = open(&nodes[1], "Bob").await;
    let mut cat = open(&nodes[2], "Cat").await;

    assert_eq!(members(&ann.join("lobby").await), ["Ann"]);
    assert_eq!(members(&bob.join("lobby").await), ["Ann", "Bob"]);
    let (event, user) = next_system(&mut ann).await;
    assert_eq!((event, user.name.as_str()), (SystemEvent::Join, "Bob"));
    assert_eq!(members(&cat.join("lobby").await), ["Ann", "Bob", "Cat"]);
    for client in [&mut ann, &mut bob] {
        let (event, user) = next_system(client).await;
        assert_eq!((event, user.name.as_str()), (SystemEvent::Join, "Cat"));
    }

    // A message from one node reaches the subscribers of the others.
    ann.say("lobby", "hello from node 0", Some("r1")).await;
    for client in [&mut bob, &mut cat] {
        next_is_message(client, "hello from node 0").await;
    }
    next_is_message(&mut ann, "hello from node 0").await;

    // Typing too, and not to the typist.
    bob.send(&ClientFrame::Typing {
        room: "lobby".into(),
        active: true,
    })
    .await;
    for client in [&mut ann, &mut cat] {
        match client.recv().await {
            ServerFrame::Typing { user, active, .. } => {
                assert_eq!((user.name.as_str(), active), ("Bob", true));
            }
            other => panic!("expected typing, got {other:?}"),
        }
    }
    bob.assert_nothing_before_pong().await;

    // Counts of /api/rooms are the cluster's, asked on any node.
    let (status, body) = http_get(addr(&nodes[2]), "/api/rooms", &[]).await;
    assert_eq!(status, 200);
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["room"], "lobby");
    assert_eq!(rooms[0]["online"], 3, "{body}");

    // Leaving is announced everywhere once.
    cat.send(&ClientFrame::Leave {
        room: "lobby".into(),
    })
    .await;
    for client in [&mut ann, &mut bob] {
        let (event, user) = next_system(client).await;
        assert_eq!((event, user.name.as_str()), (SystemEvent::Leave, "Cat"));
    }
    let (_, body) = http_get(addr(&nodes[0]), "/api/rooms", &[]).await;
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["online"], 2, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_arrives_and_leaves_once_across_nodes_and_tabs() {
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut watcher = open(&nodes[0], "Watcher").await;
    watcher.join("hall").await;
    let mut tab1 = open(&nodes[1], "Dora").await;
    tab1.join("hall").await;
    let (event, dora) = next_system(&mut watcher).await;
    assert_eq!((event, dora.name.as_str()), (SystemEvent::Join, "Dora"));

    // A second tab on another node, with the same session: no second `join`. The
    // second tab's message comes through the same channel after any notice would, so
    // it being next proves there was none.
    let mut tab2 = Client::open(&nodes[2].ws_url(&format!("?session={}", tab1.session))).await;
    assert_eq!(tab2.user, dora);
    let joined = tab2.join("hall").await;
    assert_eq!(members(&joined), ["Dora", "Watcher"]);
    tab2.say("hall", "two tabs", None).await;
    next_is_message(&mut watcher, "two tabs").await;

    // Closing one tab is no `leave` either; closing the last one is.
    drop(tab1);
    tab2.say("hall", "still here", None).await;
    next_is_message(&mut watcher, "still here").await;
    drop(tab2);
    let (event, user) = next_system(&mut watcher).await;
    assert_eq!((event, user), (SystemEvent::Leave, dora));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_reach_every_connection_on_every_node() {
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut ann = open(&nodes[0], "Ann").await;
    let mut bob = open(&nodes[1], "Bob").await;
    // Bob becomes a known user (his session is stored when he first shows himself).
    bob.join("lobby").await;
    let mut bob_phone = Client::open(&nodes[2].ws_url(&format!("?session={}", bob.session))).await;

    ann.dm(&bob.user.id, "psst", Some("d1")).await;
    for client in [&mut bob, &mut bob_phone] {
        let room = match client
            .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
            .await
        {
            ServerFrame::Joined { room, history, .. } => {
                // The message is in the history, or comes live right after.
                if history.iter().any(|m| m.text == "psst") {
                    continue;
                }
                room
            }
            _ => unreachable!(),
        };
        // (Ann's arrival in the conversation may be announced first.)
        match client
            .recv_until(|f| !matches!(f, ServerFrame::System { .. }))
            .await
        {
            ServerFrame::Message { message, .. } => {
                assert_eq!((message.room, message.text.as_str()), (room, "psst"));
            }
            other => panic!("expected the direct message, got {other:?}"),
        }
    }

    // Bob answers from his phone; Ann, on another node, gets it.
    let room = chat_protocol::validate::direct_room(&ann.user.id, &bob.user.id);
    bob_phone.say(&room, "hi Ann", None).await;
    ann.recv_until(
        |f| matches!(f, ServerFrame::Message { message, .. } if message.text == "hi Ann"),
    )
    .await;

    // A new connection anywhere lists the conversation in `welcome.rooms`.
    let again = Client::open(&nodes[0].ws_url(&format!("?session={}", bob.session))).await;
    assert!(
        again.rooms.iter().any(|r| r.room == room),
        "{:?}",
        again.rooms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_senders_on_three_nodes_every_subscriber_gets_every_seq_once_in_order() {
    const SENDERS: usize = 10;
    const TOTAL: usize = 2000;
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut clients = Vec::new();
    for i in 0..SENDERS {
        let mut client = open(&nodes[i % 3], &format!("s{i}")).await;
        client.join("busy").await;
        clients.push(client);
    }
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..TOTAL / SENDERS {
                client.say("busy", &format!("{i}:{n}"), None).await;
            }
            let mut seqs = Vec::with_capacity(TOTAL);
            while seqs.len() < TOTAL {
                if let ServerFrame::Message { message, .. } = client.recv().await {
                    seqs.push(message.seq);
                }
            }
            seqs
        }));
    }
    let expected: Vec<u64> = (1..=TOTAL as u64).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), expected, "in order, each once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_its_own_redis_needs_postgres() {
    let Some(redis) = RedisSpot::shared() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("chat-cluster-sqlite-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", "127.0.0.1:0", "--redis-url", &redis.url])
        .args(["--database-url", &format!("sqlite://{}", dir.display())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("PostgreSQL"), "{said}");
    assert!(!dir.exists(), "nothing was created");
}

/// 300 people on three nodes press the button at once: 150 pairs, nobody in two,
/// nobody left waiting, and pairs across nodes talk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_strangers_on_three_nodes_make_exactly_150_pairs() {
    const PEOPLE: usize = 300;
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut clients = Vec::new();
    for i in 0..PEOPLE {
        clients.push(open(&nodes[i % 3], &format!("p{i}")).await);
    }
    let paired: Vec<Paired> =
        futures_util::future::join_all(clients.iter_mut().map(|client| async move {
            client.send(&ClientFrame::Match { interests: vec![] }).await;
            assert!(matches!(client.recv().await, ServerFrame::Queued));
            client.matched().await
        }))
        .await;
    let mut by_room: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, pair) in paired.iter().enumerate() {
        by_room.entry(&pair.room).or_default().push(i);
    }
    assert_eq!(by_room.len(), PEOPLE / 2);
    let mut across = None;
    for seats in by_room.values() {
        let [a, b] = seats.as_slice() else {
            panic!("a pair of {} people: {seats:?}", seats.len());
        };
        assert_eq!(paired[*a].you, paired[*b].peer);
        assert_eq!(paired[*b].you, paired[*a].peer);
        assert_ne!(paired[*a].you, paired[*b].you);
        if a % 3 != b % 3 {
            across = Some((*a, *b));
        }
    }
    // Every node reports the line (cluster-wide) as empty, within a tick.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    for node in &nodes {
        loop {
            let (_, metrics) = http_get(addr(node), "/metrics", &[]).await;
            if metrics.contains("chat_match_queue 0\n") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{metrics}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    // Two who sit on different nodes talk, and one leaving closes it for the other.
    let (a, b) = across.expect("with 300 people some pairs span nodes");
    let room = paired[a].room.clone();
    let (first, second) = if a < b {
        let (left, right) = clients.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = clients.split_at_mut(a);
        (&mut right[0], &mut left[b])
    };
    first.say(&room, "hello stranger", None).await;
    second.expect_text(&room, "hello stranger").await;
    first.send(&ClientFrame::Leave { room: room.clone() }).await;
    match second
        .recv_until(|f| matches!(f, ServerFrame::System { .. }))
        .await
    {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user), (SystemEvent::Leave, paired[a].you.clone()));
        }
        _ => unreachable!(),
    }
    second.assert_nothing_before_pong().await;
}

/// The value of an unlabelled metric on a node.
async fn metric(node: &ChildServer, name: &str) -> u64 {
    let (_, body) = http_get(addr(node), "/metrics", &[]).await;
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// A quiet cluster keeps its subscriptions: the link checks (a ping every 2 s, answered
/// differently while channels are subscribed) never make a node think Redis went away,
/// which would make it read every room from the database again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cluster_keeps_its_subscriptions() {
    let Some((_backend, nodes)) = three_nodes().await else {
        return;
    };
    let mut ann = open(&nodes[0], "Ann").await;
    let mut bob = open(&nodes[1], "Bob").await;
    ann.join("quiet").await;
    bob.join("quiet").await;
    // Two lease renewals after the joins: more than one link check has run.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    for node in &nodes[..2] {
        let start = metric(node, "chat_cluster_lease_renewals_total").await;
        while metric(node, "chat_cluster_lease_renewals_total").await < start + 2 {
            assert!(tokio::time::Instant::now() < deadline, "no lease renewals");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    for node in &nodes[..2] {
        assert_eq!(metric(node, "chat_cluster_gap_fills_total").await, 0);
        assert_eq!(metric(node, "chat_redis_up").await, 1);
    }
    ann.say("quiet", "still one cluster", None).await;
    next_is_message(&mut bob, "still one cluster").await;
}
