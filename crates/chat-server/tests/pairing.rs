//! The anonymous one-to-one chat: the line, the pair room, aliases, and every way a
#![allow(clippy::unwrap_used)]
//! pair ends.

mod common;

use chat_protocol::{ClientFrame, ErrorCode, ServerFrame, SystemEvent, User};
use common::{Backend, Client, Paired, TestServer};
use std::time::Duration;

/// So long that no test sees a ticket stop holding out for a shared interest.
const NEVER: Duration = Duration::from_secs(3600);

async fn pair_up(server: &TestServer, a: &str, b: &str) -> (Client, Paired, Client, Paired) {
    let mut first = server.connect(a).await;
    let mut second = server.connect(b).await;
    first.queue(&[]).await;
    second.queue(&[]).await;
    let first_pair = first.matched().await;
    let second_pair = second.matched().await;
    (first, first_pair, second, second_pair)
}

/// Reads until the `system` `leave` of a pair room and returns who left.
async fn left_notice(client: &mut Client, room: &str) -> User {
    match client
        .recv_until(|f| matches!(f, ServerFrame::System { room: r, .. } if r == room))
        .await
    {
        ServerFrame::System { event, user, .. } => {
            assert_eq!(event, SystemEvent::Leave);
            user
        }
        _ => unreachable!(),
    }
}

async fn two_strangers_meet_in_a_pair_room_under_aliases(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (ada, a, bob, b) = pair_up(&server, "Ada", "Bob").await;
    assert_eq!(a.room, b.room);
    assert!(a.room.starts_with("~pair."), "{}", a.room);
    assert_eq!(
        (&a.you, &a.peer),
        (&b.peer, &b.you),
        "each sees the other's alias"
    );
    for alias in [&a.you, &a.peer] {
        assert!(alias.id.starts_with("anon_"), "{alias:?}");
        assert_eq!(alias.name, "Stranger");
        assert!(alias.id != ada.user.id && alias.id != bob.user.id);
    }
    assert_ne!(a.you.id, a.peer.id);
    assert!(a.common.is_empty());
}

async fn a_pair_carries_messages_and_typing_under_aliases(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, a, mut bob, b) = pair_up(&server, "Ada", "Bob").await;
    ada.say(&a.room, "hi stranger", Some("p1")).await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await
    {
        ServerFrame::Message { message, .. } => {
            assert_eq!(message.from, b.peer);
            assert_eq!(message.text, "hi stranger");
        }
        _ => unreachable!(),
    }
    bob.send(&ClientFrame::Typing {
        room: b.room.clone(),
        active: true,
    })
    .await;
    match ada
        .recv_until(|f| matches!(f, ServerFrame::Typing { .. }))
        .await
    {
        ServerFrame::Typing { user, .. } => assert_eq!(user, a.peer),
        _ => unreachable!(),
    }
}

async fn the_longest_waiting_sharer_is_matched_first(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let mut old = server.connect("Old").await;
    let mut young = server.connect("Young").await;
    let mut both = server.connect("Both").await;
    old.queue(&["chess"]).await;
    young.queue(&["go"]).await;
    both.queue(&["go", "chess"]).await;
    let paired = both.matched().await;
    assert_eq!(old.matched().await.room, paired.room, "Old waited longer");
    assert_eq!(paired.common, vec!["chess".to_owned()]);
    young.assert_nothing_before_pong().await;
}

async fn a_shared_interest_is_preferred_over_waiting_longer(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let mut anyone = server.connect("Anyone").await;
    let mut gopher = server.connect("Gopher").await;
    let mut newcomer = server.connect("Newcomer").await;
    anyone.queue(&[]).await;
    gopher.queue(&["Go"]).await;
    newcomer.queue(&["go", "rust"]).await;
    let paired = newcomer.matched().await;
    assert_eq!(gopher.matched().await.room, paired.room);
    assert_eq!(
        paired.common,
        vec!["go".to_owned()],
        "compared without case"
    );
    anyone.assert_nothing_before_pong().await;
}

async fn without_a_sharer_anyone_will_do_after_the_wait(backend: Backend) {
    let server = TestServer::with(&backend, |c| {
        c.pair_widen_after = Duration::from_millis(200)
    })
    .await;
    let mut rust = server.connect("Rust").await;
    let mut go = server.connect("Go").await;
    rust.queue(&["rust"]).await;
    go.queue(&["go"]).await;
    // Both hold out for their interest, then (within the wait, not a sleep) widen.
    let paired = rust.matched().await;
    assert_eq!(go.matched().await.room, paired.room);
    assert!(paired.common.is_empty());
}

async fn nobody_meets_their_previous_partner_again(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let (mut ada, a, mut bob, _) = pair_up(&server, "Ada", "Bob").await;
    ada.queue(&[]).await; // "next": closes the pair, queues Ada again
    assert_eq!(left_notice(&mut bob, &a.room).await, a.you);
    bob.queue(&[]).await;
    bob.assert_nothing_before_pong().await;
    let mut carol = server.connect("Carol").await;
    carol.queue(&[]).await;
    let with_carol = carol.matched().await;
    let ada_again = ada
        .recv_until(|f| matches!(f, ServerFrame::Matched { .. }))
        .await;
    assert!(matches!(ada_again, ServerFrame::Matched { room, .. } if room == with_carol.room));
    bob.assert_nothing_before_pong().await;
}

async fn next_closes_the_pair_for_both(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let (mut ada, a, mut bob, b) = pair_up(&server, "Ada", "Bob").await;
    ada.send(&ClientFrame::Match { interests: vec![] }).await;
    match ada.recv().await {
        ServerFrame::Left { room } => assert_eq!(room, a.room),
        other => panic!("next leaves the old pair first, got {other:?}"),
    }
    assert!(matches!(ada.recv().await, ServerFrame::Queued));
    assert_eq!(left_notice(&mut bob, &b.room).await, b.peer);
    bob.say(&b.room, "still there?", Some("late")).await;
    assert_eq!(
        bob.error().await,
        (ErrorCode::RoomClosed, Some("late".to_owned()))
    );
}

async fn leaving_closes_the_pair_and_its_history_stays_readable(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, a, mut bob, b) = pair_up(&server, "Ada", "Bob").await;
    ada.say(&a.room, "bye soon", None).await;
    for client in [&mut ada, &mut bob] {
        client
            .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
            .await;
    }
    ada.send(&ClientFrame::Leave {
        room: a.room.clone(),
    })
    .await;
    assert!(matches!(ada.recv().await, ServerFrame::Left { .. }));
    assert_eq!(left_notice(&mut bob, &b.room).await, b.peer);
    bob.say(&b.room, "hello?", None).await;
    assert_eq!(bob.error().await.0, ErrorCode::RoomClosed);
    // Both can still read it: Bob pages, Ada joins again.
    bob.send(&ClientFrame::History {
        room: b.room.clone(),
        before: 100,
        limit: None,
    })
    .await;
    match bob.recv().await {
        ServerFrame::History { messages, .. } => assert_eq!(messages[0].text, "bye soon"),
        other => panic!("expected history, got {other:?}"),
    }
    match ada.join(&a.room).await {
        ServerFrame::Joined { history, you, .. } => {
            assert_eq!(history.len(), 1);
            assert_eq!(you, Some(a.you.clone()));
        }
        _ => unreachable!(),
    }
    ada.say(&a.room, "again", None).await;
    assert_eq!(ada.error().await.0, ErrorCode::RoomClosed);
    let listed = server.reconnect(&ada).await.rooms;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].open, Some(false));
}

async fn a_reload_does_not_end_a_chat(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (ada, a, mut bob, b) = pair_up(&server, "Ada", "Bob").await;
    let session = ada.session.clone();
    drop(ada);
    server.wait_for_connections(1).await;
    let mut ada = server.connect_query(&format!("?session={session}")).await;
    let listed = ada
        .rooms
        .iter()
        .find(|r| r.room == a.room)
        .expect("the open pair is listed")
        .clone();
    assert_eq!(
        (listed.peer, listed.you, listed.open),
        (a.peer.clone(), Some(a.you.clone()), Some(true))
    );
    ada.join(&a.room).await;
    ada.say(&a.room, "I'm back", None).await;
    match bob.recv().await {
        ServerFrame::Message { message, .. } => assert_eq!(message.text, "I'm back"),
        other => panic!("the reload went unnoticed, but got {other:?}"),
    }
    bob.assert_nothing_before_pong().await;
    assert!(b.room == a.room);
}

async fn a_member_gone_past_the_grace_period_closes_the_pair(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_grace = Duration::from_millis(200)).await;
    let (ada, a, mut bob, b) = pair_up(&server, "Ada", "Bob").await;
    drop(ada);
    assert_eq!(left_notice(&mut bob, &b.room).await, a.you);
    bob.say(&b.room, "anyone?", None).await;
    assert_eq!(bob.error().await.0, ErrorCode::RoomClosed);
}

async fn match_while_queued_queues_once_and_unmatch_leaves(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let mut ada = server.connect("Ada").await;
    ada.queue(&["x"]).await;
    ada.queue(&["x"]).await;
    ada.send(&ClientFrame::Unmatch).await;
    assert!(matches!(ada.recv().await, ServerFrame::Unqueued));
    let mut bob = server.connect("Bob").await;
    bob.queue(&["x"]).await;
    bob.assert_nothing_before_pong().await;
    ada.assert_nothing_before_pong().await;
    let (_, metrics) = server.get("/metrics").await;
    assert!(metrics.contains("chat_match_queue 1\n"), "{metrics}");
}

async fn a_dm_to_an_alias_finds_nobody(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, a, _bob, _) = pair_up(&server, "Ada", "Bob").await;
    ada.dm(&a.peer.id, "who are you?", Some("d")).await;
    assert_eq!(
        ada.error().await,
        (ErrorCode::NoSuchUser, Some("d".to_owned()))
    );
}

async fn a_third_user_cannot_enter_a_pair(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_ada, a, _bob, _) = pair_up(&server, "Ada", "Bob").await;
    let mut carol = server.connect("Carol").await;
    carol
        .send(&ClientFrame::Join {
            room: a.room.clone(),
            since: None,
        })
        .await;
    assert_eq!(carol.error().await.0, ErrorCode::Forbidden);
    let path = format!("/api/rooms/{}/messages", a.room);
    assert_eq!(server.get(&path).await.0, 404);
    let (_, rooms) = server.get("/api/rooms").await;
    assert!(!rooms.contains("~pair"), "pairs are never listed: {rooms}");
}

/// Every frame Bob receives during a whole pair, and what he can read over HTTP, must
/// be free of Ada's real id and name.
async fn nothing_the_partner_receives_reveals_who_it_is(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Adalinde").await;
    let mut bob = server.connect("Bob").await;
    let secret_id = ada.user.id.clone();
    let secret_name = ada.user.name.clone();
    let mut seen: Vec<String> = Vec::new();

    ada.queue(&["cats"]).await;
    bob.send(&ClientFrame::Match {
        interests: vec!["cats".into()],
    })
    .await;
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(bob.recv().await); // queued, matched, joined
    }
    let room = match &frames[1] {
        ServerFrame::Matched { room, .. } => room.clone(),
        other => panic!("expected matched, got {other:?}"),
    };
    ada.matched().await;
    ada.send(&ClientFrame::Typing {
        room: room.clone(),
        active: true,
    })
    .await;
    ada.say(&room, "meow", None).await;
    frames.push(bob.recv().await); // typing
    frames.push(bob.recv().await); // message
    // A second tab of Bob's: its welcome lists the pair; it joins and pages.
    let mut bob_tab = server.reconnect(&bob).await;
    frames.push(ServerFrame::Welcome {
        user: bob_tab.user.clone(),
        session: String::new(),
        rooms: bob_tab.rooms.clone(),
        blocked: bob_tab.blocked.clone(),
    });
    frames.push(bob_tab.join(&room).await);
    bob_tab
        .send(&ClientFrame::History {
            room: room.clone(),
            before: 100,
            limit: None,
        })
        .await;
    frames.push(bob_tab.recv().await);
    let (status, body) = common::http_get(
        server.addr,
        &format!("/api/rooms/{room}/messages"),
        &[("Authorization", &format!("Bearer {}", bob.session))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    seen.push(body);
    // Ada leaves: the closing notice.
    ada.send(&ClientFrame::Leave { room: room.clone() }).await;
    frames.push(bob.recv().await);
    seen.extend(frames.iter().map(|f| serde_json::to_string(f).unwrap()));
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, ServerFrame::System { .. })),
        "{frames:?}"
    );
    for text in &seen {
        assert!(
            !text.contains(&secret_id) && !text.contains(&secret_name),
            "Ada shows in {text}"
        );
    }
    assert!(seen.iter().any(|t| t.contains("meow")));
}

/// 200 people press the button at once: 100 pairs, nobody in two, nobody left waiting.
async fn two_hundred_at_once_make_a_hundred_pairs(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut clients = Vec::new();
    for i in 0..200 {
        clients.push(server.connect(&format!("p{i}")).await);
    }
    let rooms = futures_util::future::join_all(clients.iter_mut().map(|client| async move {
        client.send(&ClientFrame::Match { interests: vec![] }).await;
        assert!(matches!(client.recv().await, ServerFrame::Queued));
        client.matched().await.room
    }))
    .await;
    let mut by_room = std::collections::HashMap::<&str, usize>::new();
    for room in &rooms {
        *by_room.entry(room).or_default() += 1;
    }
    assert_eq!(by_room.len(), 100);
    assert!(by_room.values().all(|n| *n == 2), "{by_room:?}");
    let (_, metrics) = server.get("/metrics").await;
    assert!(metrics.contains("chat_match_queue 0\n"), "{metrics}");
    assert!(
        metrics.contains("chat_pairs_opened_total 100\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chat_match_wait_seconds_count 200\n"),
        "every wait is measured: {metrics}"
    );
}

async fn an_open_pair_outlives_a_server_restart(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (ada, a, bob, _) = pair_up(&server, "Ada", "Bob").await;
    let (ada_session, bob_session) = (ada.session.clone(), bob.session.clone());
    drop((ada, bob));
    server.stop().await.unwrap();

    let server = TestServer::start(&backend).await;
    let mut ada = server
        .connect_query(&format!("?session={ada_session}"))
        .await;
    let mut bob = server
        .connect_query(&format!("?session={bob_session}"))
        .await;
    assert!(
        ada.rooms
            .iter()
            .any(|r| r.room == a.room && r.open == Some(true)),
        "{:?}",
        ada.rooms
    );
    ada.join(&a.room).await;
    bob.join(&a.room).await;
    ada.say(&a.room, "we survived", None).await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await
    {
        ServerFrame::Message { message, .. } => {
            assert_eq!(
                (message.text.as_str(), &message.from),
                ("we survived", &a.you)
            );
        }
        _ => unreachable!(),
    }
}

async fn a_second_tab_asking_again_takes_over_the_place_in_line(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.queue(&[]).await;
    let mut ada_tab = server.reconnect(&ada).await;
    ada_tab.queue(&[]).await;
    drop(ada);
    server.wait_for_connections(1).await;
    let mut bob = server.connect("Bob").await;
    bob.queue(&[]).await;
    let paired = bob.matched().await;
    assert_eq!(ada_tab.matched().await.room, paired.room);
}

async fn a_ticket_goes_with_its_connection(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.pair_widen_after = NEVER).await;
    let mut ada = server.connect("Ada").await;
    ada.queue(&["x"]).await;
    drop(ada); // gone: the ticket goes with the connection
    server.wait_for_connections(0).await;
    let mut bob = server.connect("Bob").await;
    bob.queue(&["x"]).await;
    bob.assert_nothing_before_pong().await;
    let mut carol = server.connect("Carol").await;
    carol.queue(&["x"]).await;
    assert_eq!(bob.matched().await.room, carol.matched().await.room);
}

/// Every test of this file, for the runners below.
macro_rules! every_pairing_test {
    ($run:path) => {
        $run!(
            a_second_tab_asking_again_takes_over_the_place_in_line,
            a_ticket_goes_with_its_connection,
            an_open_pair_outlives_a_server_restart,
            two_strangers_meet_in_a_pair_room_under_aliases,
            a_pair_carries_messages_and_typing_under_aliases,
            the_longest_waiting_sharer_is_matched_first,
            a_shared_interest_is_preferred_over_waiting_longer,
            without_a_sharer_anyone_will_do_after_the_wait,
            nobody_meets_their_previous_partner_again,
            next_closes_the_pair_for_both,
            leaving_closes_the_pair_and_its_history_stays_readable,
            a_reload_does_not_end_a_chat,
            a_member_gone_past_the_grace_period_closes_the_pair,
            match_while_queued_queues_once_and_unmatch_leaves,
            a_dm_to_an_alias_finds_nobody,
            a_third_user_cannot_enter_a_pair,
            nothing_the_partner_receives_reveals_who_it_is,
            two_hundred_at_once_make_a_hundred_pairs,
        );
    };
}

every_pairing_test!(on_every_backend);

/// The same rules with the line and the pairs in Redis (one atomic script per step).
mod over_redis {
    every_pairing_test!(crate::on_a_cluster_node);
}
