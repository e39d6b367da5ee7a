//! Cheap joins: a room's newest messages answer `join` from memory exactly as the store
//! would, new sessions are stored with the journal's batches, and joins racing a
//! stream of messages (a reconnect storm in small) lose and repeat nothing.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, Message, ServerFrame};
use common::{Backend, Client, TestServer, fill, seqs};

/// A counter's value in `/metrics` (0 when absent).
async fn metric(server: &TestServer, name: &str) -> u64 {
    let (_, body) = server.get("/metrics").await;
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Joins with `since` and returns the `joined` frame's history, `more` and `recovered`.
async fn join_since(client: &mut Client, room: &str, since: u64) -> (Vec<Message>, bool, bool) {
    client
        .send(&ClientFrame::Join {
            room: room.into(),
            since: Some(since),
        })
        .await;
    match client
        .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await
    {
        ServerFrame::Joined {
            history,
            more,
            recovered,
            ..
        } => (history, more, recovered == Some(true)),
        other => panic!("{other:?}"),
    }
}

const FROM_MEMORY: &str = "chat_join_histories_total{source=\"memory\"}";
const FROM_STORE: &str = "chat_join_histories_total{source=\"store\"}";

async fn joins_are_answered_from_memory_as_the_store_would(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let store = chat_server::store::open(&backend.url).await.unwrap();
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await; // a room new to the server: the store answers
    fill(&mut ada, "lobby", 150).await;
    assert_eq!(
        (
            metric(&server, FROM_MEMORY).await,
            metric(&server, FROM_STORE).await
        ),
        (0, 1)
    );

    let mut bob = server.connect("Bob").await;
    let ServerFrame::Joined { history, more, .. } = bob.join("lobby").await else {
        panic!("expected joined");
    };
    let stored = store.recent("lobby", 50).await.unwrap();
    assert_eq!(history, stored.messages, "the same messages, every field");
    assert_eq!(seqs(&history), (101..=150).collect::<Vec<_>>());
    assert!(more && stored.more);

    // A client back after a short absence: everything after its last seq.
    let mut carol = server.connect("Carol").await;
    let (recent, more, recovered) = join_since(&mut carol, "lobby", 140).await;
    assert_eq!(seqs(&recent), (141..=150).collect::<Vec<_>>());
    assert_eq!(
        recent,
        store.since("lobby", 140, 1000).await.unwrap().unwrap()
    );
    assert!(more && recovered);
    assert_eq!(metric(&server, FROM_MEMORY).await, 2, "Bob and Carol");

    // Away for longer than the room's tail reaches: the store answers, the same way.
    let mut dave = server.connect("Dave").await;
    let (long, more, recovered) = join_since(&mut dave, "lobby", 5).await;
    assert_eq!(seqs(&long), (6..=150).collect::<Vec<_>>());
    assert!(more && recovered);
    assert_eq!(metric(&server, FROM_STORE).await, 2, "Ada's and Dave's");

    // Live messages continue after what memory answered, once each.
    ada.say("lobby", "after", None).await;
    for client in [&mut bob, &mut carol] {
        match client
            .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
            .await
        {
            ServerFrame::Message { message, .. } => {
                assert_eq!((message.seq, message.text.as_str()), (151, "after"));
            }
            other => panic!("{other:?}"),
        }
    }
    bob.assert_nothing_before_pong().await;
}

async fn a_short_room_and_an_empty_one_are_answered_whole(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("quiet").await;
    let mut bob = server.connect("Bob").await;
    match bob.join("quiet").await {
        ServerFrame::Joined { history, more, .. } => assert!(history.is_empty() && !more),
        other => panic!("{other:?}"),
    }
    fill(&mut ada, "quiet", 3).await;
    let mut carol = server.connect("Carol").await;
    match carol.join("quiet").await {
        ServerFrame::Joined { history, more, .. } => {
            assert_eq!((seqs(&history), more), (vec![1, 2, 3], false));
        }
        other => panic!("{other:?}"),
    }
    let mut dave = server.connect("Dave").await;
    let (all, more, recovered) = join_since(&mut dave, "quiet", 0).await;
    assert_eq!((seqs(&all), more, recovered), (vec![1, 2, 3], false, true));
    let (nothing, more, recovered) = join_since(&mut dave, "quiet", 3).await;
    assert_eq!((nothing.len(), more, recovered), (0, true, true));
    assert_eq!(metric(&server, FROM_MEMORY).await, 4);
    assert_eq!(
        metric(&server, FROM_STORE).await,
        1,
        "only the room's first join"
    );
}

async fn new_sessions_are_stored_with_the_journal_batches(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        clients.push(server.connect(&format!("User{i}")).await);
    }
    // All twenty join at once: their sessions are stored together with the journal.
    let joins = clients.iter_mut().map(|client| client.join("lobby"));
    futures_util::future::join_all(joins).await;
    let stored = metric(&server, "chat_sessions_stored_total").await;
    // A signed-in user's session is stored when they connect, not on their first join.
    let expected = if backend.signed_in { 0 } else { 20 };
    assert_eq!(stored, expected);
    clients[0].say("lobby", "hello", None).await;
    clients[0]
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    let sessions: Vec<(chat_protocol::User, String)> = clients
        .iter()
        .map(|c| (c.user.clone(), c.session.clone()))
        .collect();
    drop(clients);
    server.stop().await.unwrap();

    let server = TestServer::start(&backend).await;
    for (user, session) in sessions {
        let again = server.connect_query(&format!("?session={session}")).await;
        assert_eq!(again.user, user, "resumed after a restart");
    }
    let mut reader = server.connect("Reader").await;
    match reader.join("lobby").await {
        ServerFrame::Joined { history, .. } => assert_eq!(history[0].text, "hello"),
        other => panic!("{other:?}"),
    }
}

/// Twenty clients join (half of them with a `since`, as after a reconnect) while
/// messages stream into the room: each sees one gapless run from its history through
/// the live messages to the last one, nothing twice.
async fn joins_racing_a_stream_lose_and_repeat_nothing(backend: Backend) {
    const TOTAL: u64 = 300;
    let server = TestServer::start(&backend).await;
    let mut writer = server.connect("Writer").await;
    writer.join("stream").await;
    fill(&mut writer, "stream", 40).await;
    let sending = async {
        for i in 41..=TOTAL {
            writer.say("stream", &format!("m{i}"), None).await;
        }
        writer
    };
    let joining = async {
        let mut seen = Vec::new();
        for i in 0..20u64 {
            let mut client = server.connect(&format!("Joiner{i}")).await;
            let since = (i % 2 == 1).then_some(30 + i);
            client
                .send(&ClientFrame::Join {
                    room: "stream".into(),
                    since,
                })
                .await;
            seen.push((client, since));
        }
        seen
    };
    let (mut writer, joiners) = tokio::join!(sending, joining);
    // The writer's own copies end with the last message.
    let mut last = 0;
    while last < TOTAL {
        if let ServerFrame::Message { message, .. } = writer.recv().await {
            last = message.seq;
        }
    }
    for (mut client, since) in joiners {
        let mut got: Vec<u64> = Vec::new();
        while got.last() != Some(&TOTAL) {
            match client.recv().await {
                ServerFrame::Joined {
                    history, recovered, ..
                } => {
                    assert!(got.is_empty(), "joined comes first");
                    if let Some(since) = since {
                        assert_eq!(recovered, Some(true));
                        assert_eq!(history.first().map(|m| m.seq), Some(since + 1));
                    }
                    got.extend(seqs(&history));
                }
                ServerFrame::Message { message, .. } => got.push(message.seq),
                _ => {}
            }
        }
        let first = got[0];
        assert_eq!(
            got,
            (first..=TOTAL).collect::<Vec<_>>(),
            "{} (since {since:?}): a gap or a repeat",
            client.user.name
        );
    }
}

on_every_backend!(
    joins_are_answered_from_memory_as_the_store_would,
    a_short_room_and_an_empty_one_are_answered_whole,
    new_sessions_are_stored_with_the_journal_batches,
    joins_racing_a_stream_lose_and_repeat_nothing,
);

mod cluster {
    use super::*;
    on_a_cluster_node!(
        joins_are_answered_from_memory_as_the_store_would,
        joins_racing_a_stream_lose_and_repeat_nothing,
    );
}
