//! Presence counts users, not browser tabs.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ServerFrame, SystemEvent};
use common::{Backend, TestServer};

async fn a_session_brings_back_the_same_user(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut first = server.connect("Ada").await;
    // A session is stored once its identity is used (here: joining a room).
    first.join("lobby").await;
    let again = server
        .connect_query(&format!("?session={}", first.session))
        .await;
    assert_eq!(again.user, first.user);
    let renamed = server
        .connect_query(&format!("?session={}&name=Ada%20L", first.session))
        .await;
    assert_eq!(renamed.user.id, first.user.id);
    assert_eq!(renamed.user.name, "Ada L");
    if backend.signed_in {
        // Where anonymous users are refused, an unknown session is no way in.
        assert_eq!(server.refusal("?session=nope&name=Eve").await, 401);
    } else {
        let unknown = server.connect_query("?session=nope&name=Eve").await;
        assert_ne!(unknown.user.id, first.user.id);
        assert_eq!(unknown.user.name, "Eve");
    }
}

async fn two_tabs_of_one_user_are_one_member(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut watcher = server.connect("Watcher").await;
    watcher.join("lobby").await;
    let mut tab1 = server.connect("Ada").await;
    tab1.join("lobby").await;
    match watcher.recv().await {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user), (SystemEvent::Join, tab1.user.clone()));
        }
        other => panic!("{other:?}"),
    }
    let mut tab2 = server
        .connect_query(&format!("?session={}", tab1.session))
        .await;
    assert_eq!(tab1.user, tab2.user);

    match tab2.join("lobby").await {
        ServerFrame::Joined { members, .. } => {
            assert_eq!(members.len(), 2, "each user once: {members:?}");
        }
        other => panic!("{other:?}"),
    }
    // The second tab is no news to the room.
    watcher.assert_nothing_before_pong().await;

    // Both tabs get the user's messages; only the sending tab gets the ref.
    tab1.say("lobby", "from tab 1", Some("t1")).await;
    for (tab, expected_ref) in [(&mut tab1, Some("t1")), (&mut tab2, None)] {
        match tab.recv().await {
            ServerFrame::Message { client_ref, .. } => {
                assert_eq!(client_ref.as_deref(), expected_ref);
            }
            other => panic!("{other:?}"),
        }
    }
    watcher.recv().await;

    // Closing one tab keeps the user present; closing the last announces the leave.
    drop(tab2.ws);
    server.wait_for_connections(2).await;
    watcher.assert_nothing_before_pong().await;
    let (status, body) = server.get("/api/rooms").await;
    assert_eq!(status, 200);
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["online"], 2, "{body}");
    drop(tab1.ws);
    match watcher.recv().await {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user), (SystemEvent::Leave, tab1.user));
        }
        other => panic!("{other:?}"),
    }
}

on_every_backend!(
    a_session_brings_back_the_same_user,
    two_tabs_of_one_user_are_one_member,
);
