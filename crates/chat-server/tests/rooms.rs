//! Joining, sending, typing, leaving and history over real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, Message, ServerFrame, SystemEvent};
use common::{Backend, TestServer};

fn as_message(frame: ServerFrame) -> (Message, Option<String>) {
    match frame {
        ServerFrame::Message {
            message,
            client_ref,
        } => (message, client_ref),
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn welcome_is_the_first_frame_with_a_user_and_session(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let client = server.connect("Ada").await;
    assert_eq!(client.user.name, "Ada");
    // Anonymous users get a random id; signed-in ones the id their token names.
    let prefix = if backend.signed_in { "jwt-" } else { "u_" };
    assert!(client.user.id.starts_with(prefix), "{}", client.user.id);
    assert!(client.session.len() >= 32);
    let unnamed = server.connect_query("").await;
    assert_ne!(unnamed.user.id, client.user.id);
    let expected_name = if backend.signed_in {
        "Tester"
    } else {
        "guest-"
    };
    assert!(
        unnamed.user.name.starts_with(expected_name),
        "{}",
        unnamed.user.name
    );
}

async fn join_replies_joined_with_members_and_announces_to_others(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    match ada.join("lobby").await {
        ServerFrame::Joined {
            room,
            members,
            history,
            more,
            recovered,
            ..
        } => {
            assert_eq!(room, "lobby");
            assert_eq!(members, vec![ada.user.clone()]);
            assert!(history.is_empty());
            assert!(!more);
            assert_eq!(recovered, None);
        }
        other => panic!("{other:?}"),
    }
    match bob.join("lobby").await {
        ServerFrame::Joined { members, .. } => {
            assert_eq!(members, vec![ada.user.clone(), bob.user.clone()]);
        }
        other => panic!("{other:?}"),
    }
    match ada.recv().await {
        ServerFrame::System {
            room, event, user, ..
        } => {
            assert_eq!(
                (room.as_str(), event, user),
                ("lobby", SystemEvent::Join, bob.user.clone())
            );
        }
        other => panic!("{other:?}"),
    }
}

async fn send_reaches_everyone_and_only_the_sender_gets_the_ref(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, mut bob) = server.pair_in("lobby").await;
    ada.say("lobby", "  hello bob  ", Some("c-1")).await;
    let (own, own_ref) = as_message(ada.recv().await);
    let (theirs, their_ref) = as_message(bob.recv().await);
    assert_eq!(own_ref.as_deref(), Some("c-1"));
    assert_eq!(their_ref, None);
    assert_eq!(own, theirs);
    assert_eq!(own.text, "hello bob", "text is stored trimmed");
    assert_eq!(own.seq, 1);
    assert_eq!(own.from, ada.user);
    assert_eq!(own.id.len(), 26, "a ULID: {}", own.id);
    let now = chat_server::clock::now_ms();
    assert!((now - own.ts).abs() < 10_000, "ts {} vs now {now}", own.ts);

    bob.say("lobby", "hi ada", None).await;
    let (second, _) = as_message(ada.recv().await);
    assert_eq!(second.seq, 2);
    assert!(second.id > own.id, "ids are time-ordered");
}

async fn typing_goes_to_the_others_only(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, mut bob) = server.pair_in("lobby").await;
    ada.send(&ClientFrame::Typing {
        room: "lobby".into(),
        active: true,
    })
    .await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::Typing {
            room: "lobby".into(),
            user: ada.user.clone(),
            active: true
        }
    );
    ada.assert_nothing_before_pong().await;
}

async fn leave_replies_left_and_announces_to_others(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, mut bob) = server.pair_in("lobby").await;
    bob.send(&ClientFrame::Leave {
        room: "lobby".into(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::Left {
            room: "lobby".into()
        }
    );
    match ada.recv().await {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user), (SystemEvent::Leave, bob.user.clone()));
        }
        other => panic!("{other:?}"),
    }
    // Bob no longer gets the room's messages.
    ada.say("lobby", "still here?", None).await;
    ada.recv().await;
    bob.assert_nothing_before_pong().await;
}

async fn disconnect_announces_leave(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, bob) = server.pair_in("lobby").await;
    drop(bob.ws);
    match ada.recv().await {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user), (SystemEvent::Leave, bob.user));
        }
        other => panic!("{other:?}"),
    }
}

async fn rooms_are_isolated_and_one_socket_carries_many(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    ada.join("rust").await;
    ada.join("go").await;
    bob.join("go").await;
    ada.recv().await; // bob's system join in go
    ada.say("rust", "only for rust", None).await;
    let (message, _) = as_message(ada.recv().await);
    assert_eq!((message.room.as_str(), message.seq), ("rust", 1));
    bob.assert_nothing_before_pong().await;
    bob.say("go", "first in go", None).await;
    let (message, _) = as_message(ada.recv().await);
    assert_eq!(
        (message.room.as_str(), message.seq),
        ("go", 1),
        "seq is per room"
    );
}

async fn join_brings_the_last_50_and_history_pages_back(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    for i in 1..=60 {
        ada.say("lobby", &format!("m{i}"), None).await;
    }
    ada.recv_until(|f| matches!(f, ServerFrame::Message { message, .. } if message.seq == 60))
        .await;
    let mut bob = server.connect("Bob").await;
    match bob.join("lobby").await {
        ServerFrame::Joined { history, more, .. } => {
            let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (11..=60).collect::<Vec<_>>());
            assert!(more);
        }
        other => panic!("{other:?}"),
    }
    bob.send(&ClientFrame::History {
        room: "lobby".into(),
        before: 11,
        limit: Some(200),
    })
    .await;
    match bob.recv().await {
        ServerFrame::History {
            room,
            messages,
            more,
        } => {
            assert_eq!(room, "lobby");
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
            assert!(!more);
        }
        other => panic!("{other:?}"),
    }
}

async fn join_with_since_recovers_what_was_missed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    for i in 1..=5 {
        ada.say("lobby", &format!("m{i}"), None).await;
    }
    ada.recv_until(|f| matches!(f, ServerFrame::Message { message, .. } if message.seq == 5))
        .await;
    let mut bob = server.connect("Bob").await;
    bob.send(&ClientFrame::Join {
        room: "lobby".into(),
        since: Some(3),
    })
    .await;
    match bob.recv().await {
        ServerFrame::Joined {
            history,
            recovered,
            more,
            ..
        } => {
            let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, vec![4, 5]);
            assert_eq!(recovered, Some(true));
            assert!(more);
        }
        other => panic!("{other:?}"),
    }
}

async fn ping_gets_pong(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send(&ClientFrame::Ping).await;
    assert_eq!(ada.recv().await, ServerFrame::Pong);
}

on_every_backend!(
    welcome_is_the_first_frame_with_a_user_and_session,
    join_replies_joined_with_members_and_announces_to_others,
    send_reaches_everyone_and_only_the_sender_gets_the_ref,
    typing_goes_to_the_others_only,
    leave_replies_left_and_announces_to_others,
    disconnect_announces_leave,
    rooms_are_isolated_and_one_socket_carries_many,
    join_brings_the_last_50_and_history_pages_back,
    join_with_since_recovers_what_was_missed,
    ping_gets_pong,
);
