//! Blocks and reports, and the moderators' view of reports.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{Backend, TestServer, http_get};
use serde_json::Value;

const ADMIN: &str = "s3cret-moderator";

async fn a_block_by_id_refuses_their_dms_and_is_listed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let mut bob = server.known_user("Bob").await;
    bob.send(&ClientFrame::Block {
        user: Some(ada.user.id.clone()),
        room: None,
        client_ref: Some("b".into()),
    })
    .await;
    match bob.recv().await {
        ServerFrame::Blocked {
            user, client_ref, ..
        } => assert_eq!(
            (user, client_ref),
            (Some(ada.user.id.clone()), Some("b".into()))
        ),
        other => panic!("expected blocked, got {other:?}"),
    }
    ada.dm(&bob.user.id, "let me in", Some("x")).await;
    assert_eq!(ada.error().await, (ErrorCode::Forbidden, Some("x".into())));
    bob.dm(&ada.user.id, "and you may not hear from me", Some("y"))
        .await;
    assert_eq!(bob.error().await, (ErrorCode::Forbidden, Some("y".into())));
    assert_eq!(
        server.reconnect(&bob).await.blocked,
        vec![ada.user.id.clone()]
    );

    bob.send(&ClientFrame::Unblock {
        user: ada.user.id.clone(),
        client_ref: None,
    })
    .await;
    assert!(matches!(bob.recv().await, ServerFrame::Unblocked { .. }));
    assert!(server.reconnect(&bob).await.blocked.is_empty());
    ada.dm(&bob.user.id, "thanks", None).await;
    bob.expect_text(
        &chat_protocol::validate::direct_room(&ada.user.id, &bob.user.id),
        "thanks",
    )
    .await;
}

async fn blocked_users_are_never_paired(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.known_user("Ada").await;
    let mut bob = server.known_user("Bob").await;
    bob.send(&ClientFrame::Block {
        user: Some(ada.user.id.clone()),
        room: None,
        client_ref: None,
    })
    .await;
    bob.recv_until(|f| matches!(f, ServerFrame::Blocked { .. }))
        .await;
    ada.queue(&[]).await;
    bob.queue(&[]).await;
    bob.assert_nothing_before_pong().await;
    let mut carol = server.connect("Carol").await;
    carol.queue(&[]).await;
    let paired = carol.matched().await;
    assert_eq!(ada.matched().await.room, paired.room, "Ada waited longest");
    bob.assert_nothing_before_pong().await;
}

async fn blocking_a_pair_closes_it_without_revealing_the_partner(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    ada.queue(&[]).await;
    bob.queue(&[]).await;
    let a = ada.matched().await;
    let b = bob.matched().await;
    ada.send(&ClientFrame::Block {
        user: None,
        room: Some(a.room.clone()),
        client_ref: Some("blk".into()),
    })
    .await;
    let reply = ada
        .recv_until(|f| matches!(f, ServerFrame::Blocked { .. }))
        .await;
    assert_eq!(
        reply,
        ServerFrame::Blocked {
            user: None,
            room: Some(a.room.clone()),
            client_ref: Some("blk".into()),
        }
    );
    match bob
        .recv_until(|f| matches!(f, ServerFrame::System { .. }))
        .await
    {
        ServerFrame::System { user, .. } => assert_eq!(user, b.peer),
        _ => unreachable!(),
    }
    let again = server.reconnect(&ada).await;
    assert!(again.blocked.is_empty(), "an anonymous block is not listed");
    // Nor does it answer direct messages differently, either way: that would tell Ada
    // who the stranger was, and Bob who blocked him.
    ada.dm(&bob.user.id, "who might you be?", Some("d1")).await;
    bob.expect_text(
        &chat_protocol::validate::direct_room(&ada.user.id, &bob.user.id),
        "who might you be?",
    )
    .await;
    bob.dm(&ada.user.id, "and you?", Some("d2")).await;
    ada.recv_until(
        |f| matches!(f, ServerFrame::Message { message, .. } if message.text == "and you?"),
    )
    .await;
    // The block holds in the line too (not just as the previous partner): after
    // each meets someone else, they still never meet.
    let mut carol = server.connect("Carol").await;
    let mut dave = server.connect("Dave").await;
    ada.queue(&[]).await;
    carol.queue(&[]).await;
    ada.matched().await;
    carol.matched().await;
    bob.queue(&[]).await;
    dave.queue(&[]).await;
    bob.matched().await;
    dave.matched().await;
    ada.queue(&[]).await;
    bob.queue(&[]).await;
    bob.assert_nothing_before_pong().await;
}

async fn a_report_reaches_the_moderators_with_real_identities(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.admin_token = Some(ADMIN.into())).await;
    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    ada.queue(&[]).await;
    bob.queue(&[]).await;
    let a = ada.matched().await;
    let b = bob.matched().await;
    ada.say(&a.room, "something nasty", None).await;
    bob.recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    bob.say(&b.room, "stop it", None).await;
    bob.recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    bob.send(&ClientFrame::Report {
        room: b.room.clone(),
        reason: "  harassment ".into(),
        client_ref: Some("rep".into()),
    })
    .await;
    match bob
        .recv_until(|f| matches!(f, ServerFrame::Reported { .. }))
        .await
    {
        ServerFrame::Reported { room, client_ref } => {
            assert_eq!((room, client_ref), (b.room.clone(), Some("rep".into())));
        }
        _ => unreachable!(),
    }
    // Reporting a pair also closes it.
    ada.recv_until(|f| matches!(f, ServerFrame::System { .. }))
        .await;

    let (status, _) = server.get("/api/admin/reports").await;
    assert_eq!(status, 401);
    let (status, _) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", "Bearer s3cret-moderatoR")],
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", &format!("Bearer {ADMIN}"))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reports: Value = serde_json::from_str(&body).unwrap();
    let report = &reports[0];
    assert_eq!(report["room"], b.room.as_str());
    assert_eq!(report["reason"], "harassment");
    assert_eq!(report["reporter"]["id"], bob.user.id.as_str());
    assert_eq!(report["reporter"]["name"], "Bob");
    let authors: Vec<(&str, &str)> = report["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["from"]["name"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        authors,
        vec![("Ada", "something nasty"), ("Bob", "stop it")]
    );
    assert_eq!(report["transcript"][0]["from"]["id"], ada.user.id.as_str());
    let (_, metrics) = server.get("/metrics").await;
    assert!(metrics.contains("chat_reports_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("chat_pairs_closed_total{reason=\"reported\"} 1\n"),
        "{metrics}"
    );
}

async fn reports_are_listed_newest_first_and_public_rooms_need_a_join(backend: Backend) {
    let server = TestServer::with(&backend, |c| c.admin_token = Some(ADMIN.into())).await;
    let mut ada = server.connect("Ada").await;
    ada.send(&ClientFrame::Report {
        room: "lobby".into(),
        reason: "spam".into(),
        client_ref: None,
    })
    .await;
    assert_eq!(ada.error().await.0, ErrorCode::NotJoined);
    ada.join("lobby").await;
    for reason in ["first", "second"] {
        ada.send(&ClientFrame::Report {
            room: "lobby".into(),
            reason: reason.into(),
            client_ref: None,
        })
        .await;
        ada.recv_until(|f| matches!(f, ServerFrame::Reported { .. }))
            .await;
    }
    let (_, body) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", &format!("Bearer {ADMIN}"))],
    )
    .await;
    let reports: Value = serde_json::from_str(&body).unwrap();
    let reasons: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["second", "first"]);
}

async fn without_an_admin_token_the_reports_route_does_not_exist(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (status, _) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", "Bearer anything")],
    )
    .await;
    assert_eq!(status, 404);
    // An empty token (say `CHAT_ADMIN_TOKEN=`) is none: a request without one stays out.
    let server = TestServer::with(&backend, |c| c.admin_token = Some(String::new())).await;
    assert_eq!(server.get("/api/admin/reports").await.0, 404);
    let (status, _) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", "Bearer ")],
    )
    .await;
    assert_eq!(status, 404);
}

on_every_backend!(
    a_block_by_id_refuses_their_dms_and_is_listed,
    blocked_users_are_never_paired,
    blocking_a_pair_closes_it_without_revealing_the_partner,
    a_report_reaches_the_moderators_with_real_identities,
    reports_are_listed_newest_first_and_public_rooms_need_a_join,
    without_an_admin_token_the_reports_route_does_not_exist,
);
