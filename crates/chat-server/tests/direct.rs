//! Direct messages: `dm`, the `~dm.<a>.<b>` room, who may see it, and `welcome.rooms`.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::validate::direct_room;
use chat_protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{Backend, TestServer, http_get};

async fn a_dm_reaches_every_tab_of_both_users(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let mut ada_tab = server.reconnect(&ada).await;
    let mut bob = server.known_user("Bob").await;
    let mut bob_tab = server.reconnect(&bob).await;
    let room = direct_room(&ada.user.id, &bob.user.id);

    ada.dm(&bob.user.id, "hello Bob", Some("r1")).await;
    match ada.recv().await {
        ServerFrame::Joined { room: joined, .. } => assert_eq!(joined, room),
        other => panic!("the sender's own joined comes first, got {other:?}"),
    }
    // (Bob's tabs joining may announce themselves in between.)
    match ada
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await
    {
        ServerFrame::Message {
            message,
            client_ref,
        } => {
            assert_eq!(
                (message.room.as_str(), message.text.as_str()),
                (room.as_str(), "hello Bob")
            );
            assert_eq!(message.from, ada.user);
            assert_eq!(client_ref.as_deref(), Some("r1"));
        }
        _ => unreachable!(),
    }
    for tab in [&mut ada_tab, &mut bob, &mut bob_tab] {
        tab.expect_text(&room, "hello Bob").await;
    }
    // Everyone is subscribed now: the answer arrives as a message everywhere.
    bob_tab.dm(&ada.user.id, "hi Ada", None).await;
    let bob_user = bob.user.clone();
    for tab in [&mut ada, &mut ada_tab, &mut bob, &mut bob_tab] {
        match tab
            .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
            .await
        {
            ServerFrame::Message { message, .. } => {
                assert_eq!((message.text.as_str(), message.seq), ("hi Ada", 2));
                assert_eq!(message.from, bob_user);
            }
            _ => unreachable!(),
        }
    }
}

async fn direct_history_pages_and_recovers_like_any_room(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let bob = server.known_user("Bob").await;
    let room = direct_room(&ada.user.id, &bob.user.id);
    for i in 1..=60 {
        ada.dm(&bob.user.id, &format!("m{i}"), None).await;
    }
    ada.recv_until(|f| matches!(f, ServerFrame::Message { message, .. } if message.seq == 60))
        .await;
    let mut bob = server.reconnect(&bob).await;
    match bob.join(&room).await {
        ServerFrame::Joined { history, more, .. } => {
            assert_eq!(history.len(), 50);
            assert_eq!((history[0].seq, history[49].seq, more), (11, 60, true));
        }
        _ => unreachable!(),
    }
    bob.send(&ClientFrame::History {
        room: room.clone(),
        before: 11,
        limit: None,
    })
    .await;
    match bob.recv().await {
        ServerFrame::History { messages, more, .. } => {
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!((seqs, more), ((1..=10).collect(), false));
        }
        other => panic!("expected history, got {other:?}"),
    }
    let mut again = server.reconnect(&bob).await;
    again
        .send(&ClientFrame::Join {
            room: room.clone(),
            since: Some(55),
        })
        .await;
    match again.recv().await {
        ServerFrame::Joined {
            history, recovered, ..
        } => {
            let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
            assert_eq!((seqs, recovered), ((56..=60).collect(), Some(true)));
        }
        other => panic!("expected joined, got {other:?}"),
    }
}

async fn welcome_lists_direct_rooms_with_the_peer_and_last_seq(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let bob = server.known_user("Bob").await;
    let carol = server.known_user("Carol").await;
    ada.dm(&bob.user.id, "one", None).await;
    ada.dm(&bob.user.id, "two", None).await;
    ada.dm(&carol.user.id, "three", None).await;
    ada.recv_until(
        |f| matches!(f, ServerFrame::Message { message, .. } if message.text == "three"),
    )
    .await;
    let bob_again = server.reconnect(&bob).await;
    assert_eq!(bob_again.rooms.len(), 1, "{:?}", bob_again.rooms);
    let listed = &bob_again.rooms[0];
    assert_eq!(listed.room, direct_room(&ada.user.id, &bob.user.id));
    assert_eq!((&listed.peer, listed.last_seq), (&ada.user, 2));
    assert_eq!((listed.you.as_ref(), listed.open), (None, None));
    let ada_again = server.reconnect(&ada).await;
    let mut peers: Vec<(&str, u64)> = ada_again
        .rooms
        .iter()
        .map(|r| (r.peer.name.as_str(), r.last_seq))
        .collect();
    peers.sort();
    assert_eq!(peers, vec![("Bob", 2), ("Carol", 1)]);
}

async fn only_the_two_members_see_a_direct_room(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let bob = server.known_user("Bob").await;
    let mut carol = server.known_user("Carol").await;
    let room = direct_room(&ada.user.id, &bob.user.id);
    ada.dm(&bob.user.id, "just us", None).await;
    ada.recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;

    carol
        .send(&ClientFrame::Join {
            room: room.clone(),
            since: None,
        })
        .await;
    assert_eq!(carol.error().await.0, ErrorCode::Forbidden);
    carol
        .send(&ClientFrame::History {
            room: room.clone(),
            before: 10,
            limit: None,
        })
        .await;
    assert_eq!(carol.error().await.0, ErrorCode::Forbidden);

    let path = format!("/api/rooms/{room}/messages");
    assert_eq!(server.get(&path).await.0, 404, "nobody");
    let as_carol = format!("Bearer {}", carol.session);
    let (status, body) = http_get(server.addr, &path, &[("Authorization", &as_carol)]).await;
    assert_eq!(status, 404, "a third user: {body}");
    assert_eq!(
        server
            .get("/api/rooms/~dm.u_nobody.u_nothing/messages")
            .await
            .0,
        404,
        "as for a room that does not exist"
    );
    let as_bob = format!("Bearer {}", bob.session);
    let (status, body) = http_get(server.addr, &path, &[("Authorization", &as_bob)]).await;
    assert_eq!(status, 200, "a member: {body}");
    assert!(body.contains("just us"), "{body}");
    if let Some(secret) = server.jwt_secret.as_deref() {
        // A client that signs in with tokens shows one instead of a session.
        let bob_jwt = format!("Bearer {}", common::auth::jwt(secret, &bob.user.id, "Bob"));
        let (status, body) = http_get(server.addr, &path, &[("Authorization", &bob_jwt)]).await;
        assert_eq!(status, 200, "a member's token: {body}");
        let carol_jwt = format!("Bearer {}", common::auth::jwt(secret, &carol.user.id, "C"));
        let (status, _) = http_get(server.addr, &path, &[("Authorization", &carol_jwt)]).await;
        assert_eq!(status, 404, "a third user's token");
        let forged = format!(
            "Bearer {}",
            common::auth::jwt("forged", &bob.user.id, "Bob")
        );
        let (status, _) = http_get(server.addr, &path, &[("Authorization", &forged)]).await;
        assert_eq!(status, 404, "a forged token");
    }
    let (_, rooms) = server.get("/api/rooms").await;
    assert!(
        !rooms.contains("~dm"),
        "private rooms are never listed: {rooms}"
    );
}

async fn a_dm_needs_a_real_other_user(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    ada.dm("u_neverexisted", "hello?", Some("x1")).await;
    assert_eq!(
        ada.error().await,
        (ErrorCode::NoSuchUser, Some("x1".to_owned()))
    );
    let own = ada.user.id.clone();
    ada.dm(&own, "note to self", Some("x2")).await;
    assert_eq!(
        ada.error().await,
        (ErrorCode::BadFrame, Some("x2".to_owned()))
    );
    let mut ghost = server.connect("Ghost").await;
    ada.dm(&ghost.user.id, "boo", Some("x3")).await;
    if backend.signed_in {
        // A signed-in user is someone from the first connection: the message arrives.
        ghost
            .expect_text(&direct_room(&ada.user.id, &ghost.user.id), "boo")
            .await;
    } else {
        // An anonymous user who never showed themself anywhere is not stored: unknown.
        assert_eq!(
            ada.error().await,
            (ErrorCode::NoSuchUser, Some("x3".to_owned()))
        );
    }
}

async fn a_dm_to_a_user_who_left_the_room_resubscribes_them(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let mut bob = server.known_user("Bob").await;
    let room = direct_room(&ada.user.id, &bob.user.id);
    ada.dm(&bob.user.id, "first", None).await;
    bob.expect_text(&room, "first").await;
    bob.send(&ClientFrame::Leave { room: room.clone() }).await;
    bob.recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await;
    ada.dm(&bob.user.id, "second", None).await;
    bob.expect_text(&room, "second").await;
}

async fn a_send_to_a_joined_direct_room_works_like_a_dm(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let mut bob = server.known_user("Bob").await;
    let room = direct_room(&ada.user.id, &bob.user.id);
    // Opening a conversation is joining its room; writing there reaches the peer.
    match ada.join(&room).await {
        ServerFrame::Joined { history, .. } => assert!(history.is_empty()),
        _ => unreachable!(),
    }
    ada.say(&room, "started from the room", Some("s1")).await;
    bob.expect_text(&room, "started from the room").await;
    assert_eq!(server.reconnect(&bob).await.rooms.len(), 1);
    // A member may join the room of a user who does not exist (it is empty), but
    // nothing can be written there.
    let ghost_room = direct_room(&ada.user.id, "u_ghost");
    ada.join(&ghost_room).await;
    ada.say(&ghost_room, "anyone?", Some("s2")).await;
    assert_eq!(
        ada.error().await,
        (ErrorCode::NoSuchUser, Some("s2".to_owned()))
    );
}

on_every_backend!(
    a_send_to_a_joined_direct_room_works_like_a_dm,
    a_dm_reaches_every_tab_of_both_users,
    direct_history_pages_and_recovers_like_any_room,
    welcome_lists_direct_rooms_with_the_peer_and_last_seq,
    only_the_two_members_see_a_direct_room,
    a_dm_needs_a_real_other_user,
    a_dm_to_a_user_who_left_the_room_resubscribes_them,
);
