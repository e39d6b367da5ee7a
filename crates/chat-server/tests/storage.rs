//! History and sessions outlive the server, and page back to the first message.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, Message, ServerFrame};
use common::{Backend, TestServer, fill, seqs};
use serde_json::Value;

async fn history_survives_a_restart(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    fill(&mut ada, "lobby", 60).await;
    server.stop().await.unwrap();

    let server = TestServer::start(&backend).await;
    let mut bob = server.connect("Bob").await;
    match bob.join("lobby").await {
        ServerFrame::Joined { history, more, .. } => {
            assert_eq!(seqs(&history), (11..=60).collect::<Vec<_>>());
            assert_eq!(history[0].text, "m11");
            assert_eq!(history[0].from, ada.user);
            assert!(more);
        }
        other => panic!("{other:?}"),
    }
    // New messages continue the sequence.
    bob.say("lobby", "after the restart", None).await;
    match bob.recv().await {
        ServerFrame::Message { message, .. } => assert_eq!(message.seq, 61),
        other => panic!("{other:?}"),
    }
}

async fn a_session_resumes_across_a_restart(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    server.stop().await.unwrap();
    let server = TestServer::start(&backend).await;
    let again = server
        .connect_query(&format!("?session={}", ada.session))
        .await;
    assert_eq!(again.user, ada.user);
    assert_eq!(again.session, ada.session);
}

async fn a_session_is_stored_only_once_it_is_used(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // An anonymous handshake that leads nowhere leaves nothing behind: its session is
    // unknown later.
    let mut idle = server.connect("Idle").await;
    idle.assert_alive().await;
    drop(idle.ws);
    let after_idle = server
        .connect_query(&format!("?session={}", idle.session))
        .await;
    if backend.signed_in {
        // A signed-in user is stored at once (they may have conversations to list).
        assert_eq!(after_idle.user, idle.user, "a signed-in session is kept");
    } else {
        assert_ne!(
            after_idle.user.id, idle.user.id,
            "an unused session is not kept"
        );
    }
    // The first join stores it.
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    let again = server
        .connect_query(&format!("?session={}", ada.session))
        .await;
    assert_eq!(again.user, ada.user);
}

async fn sessions_expire_after_their_ttl(backend: Backend) {
    let store = chat_server::store::open(&backend.url).await.unwrap();
    let user = chat_protocol::User {
        id: "u_old".into(),
        name: "Old".into(),
    };
    store.save_session("tok", &user).await.unwrap();
    let saved_at = store
        .load_session("tok", 0)
        .await
        .unwrap()
        .unwrap()
        .updated_ms;
    assert_eq!(
        store
            .load_session("tok", saved_at)
            .await
            .unwrap()
            .map(|s| s.user),
        Some(user.clone()),
        "valid up to its last use plus the ttl"
    );
    assert_eq!(store.load_session("tok", saved_at + 1).await.unwrap(), None);
    assert_eq!(store.expire_sessions(saved_at).await.unwrap(), 0);
    assert_eq!(store.expire_sessions(saved_at + 1).await.unwrap(), 1);
    assert_eq!(store.load_session("tok", 0).await.unwrap(), None, "swept");
}

async fn five_thousand_messages_page_back_to_seq_1(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("big").await;
    fill(&mut ada, "big", 5000).await;

    let mut bob = server.connect("Bob").await;
    let ServerFrame::Joined {
        history, mut more, ..
    } = bob.join("big").await
    else {
        panic!("expected joined");
    };
    let mut collected: Vec<u64> = seqs(&history);
    while more {
        bob.send(&ClientFrame::History {
            room: "big".into(),
            before: collected[0],
            limit: Some(200),
        })
        .await;
        match bob.recv().await {
            ServerFrame::History {
                messages,
                more: older,
                ..
            } => {
                assert!(!messages.is_empty());
                let mut page = seqs(&messages);
                page.extend_from_slice(&collected);
                collected = page;
                more = older;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        collected,
        (1..=5000).collect::<Vec<_>>(),
        "no gap, no repeat"
    );

    // The REST pager agrees.
    let mut before = u64::MAX;
    let mut via_http = Vec::new();
    loop {
        let (status, body) = server
            .get(&format!(
                "/api/rooms/big/messages?before={before}&limit=200"
            ))
            .await;
        assert_eq!(status, 200);
        let page: Value = serde_json::from_str(&body).unwrap();
        let messages: Vec<Message> = serde_json::from_value(page["messages"].clone()).unwrap();
        let mut batch = seqs(&messages);
        before = batch[0];
        batch.extend_from_slice(&via_http);
        via_http = batch;
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(via_http, collected);
}

async fn more_than_1000_missing_gives_the_latest_50_unrecovered(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("busy").await;
    fill(&mut ada, "busy", 1102).await;
    let mut bob = server.connect("Bob").await;
    for (since, expect_recovered, expect_first) in [(101, false, 1053), (102, true, 103)] {
        bob.send(&ClientFrame::Join {
            room: "busy".into(),
            since: Some(since),
        })
        .await;
        match bob
            .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
            .await
        {
            ServerFrame::Joined {
                history,
                recovered,
                more,
                ..
            } => {
                assert_eq!(recovered, Some(expect_recovered), "since {since}");
                assert_eq!(history.first().map(|m| m.seq), Some(expect_first));
                assert_eq!(history.last().map(|m| m.seq), Some(1102));
                assert!(more);
            }
            other => panic!("{other:?}"),
        }
    }
}

async fn rooms_with_history_are_listed_with_nobody_online(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("archive").await;
    fill(&mut ada, "archive", 3).await;
    server.stop().await.unwrap();
    let server = TestServer::start(&backend).await;
    let (status, body) = server.get("/api/rooms").await;
    assert_eq!(status, 200);
    let rooms: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["room"], "archive");
    assert_eq!(rooms[0]["online"], 0);
    assert_eq!(rooms[0]["last_seq"], 3);
    assert!(rooms[0]["last_ts"].as_i64().unwrap() > 0);
}

async fn the_rest_pager_refuses_bad_input(backend: Backend) {
    let server = TestServer::start(&backend).await;
    assert_eq!(server.get("/api/rooms/lobby/messages").await.0, 200);
    assert_eq!(server.get("/api/rooms/-bad/messages").await.0, 400);
    assert_eq!(server.get("/api/rooms/lobby/messages?limit=0").await.0, 400);
    assert_eq!(
        server.get("/api/rooms/lobby/messages?before=x").await.0,
        400
    );
    assert_eq!(server.get("/api/rooms/~pair.p1/messages").await.0, 404);
}

on_every_backend!(
    history_survives_a_restart,
    a_session_resumes_across_a_restart,
    a_session_is_stored_only_once_it_is_used,
    sessions_expire_after_their_ttl,
    five_thousand_messages_page_back_to_seq_1,
    more_than_1000_missing_gives_the_latest_50_unrecovered,
    rooms_with_history_are_listed_with_nobody_online,
    the_rest_pager_refuses_bad_input,
);
