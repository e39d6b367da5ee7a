//! Every refusal the room server makes is an `error` frame with the right code, carries
//! the frame's `ref`, and leaves the connection open.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{Backend, Client, TestServer};
use serde_json::json;

async fn expect_error(client: &mut Client, code: ErrorCode, client_ref: Option<&str>) {
    match client.recv().await {
        ServerFrame::Error {
            code: got,
            client_ref: got_ref,
            message,
            ..
        } => {
            assert_eq!(got, code, "{message}");
            assert_eq!(got_ref.as_deref(), client_ref);
            assert!(!message.is_empty());
        }
        other => panic!("expected error {code}, got {other:?}"),
    }
    client.assert_alive().await;
}

#[tokio::test]
async fn not_json_is_bad_frame() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send_text("hello?").await;
    expect_error(&mut ada, ErrorCode::BadFrame, None).await;
}

#[tokio::test]
async fn missing_fields_are_bad_frame_with_ref() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send_json(json!({"type": "send", "room": "lobby", "ref": "c-1"}))
        .await;
    expect_error(&mut ada, ErrorCode::BadFrame, Some("c-1")).await;
}

#[tokio::test]
async fn unknown_type_is_unknown_type() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send_json(json!({"type": "shout", "room": "lobby"}))
        .await;
    expect_error(&mut ada, ErrorCode::UnknownType, None).await;
}

#[tokio::test]
async fn invalid_room_is_bad_room() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send_json(json!({"type": "join", "room": "no spaces"}))
        .await;
    expect_error(&mut ada, ErrorCode::BadRoom, None).await;
    ada.send_json(json!({"type": "send", "room": "-x", "text": "hi", "ref": "c-2"}))
        .await;
    expect_error(&mut ada, ErrorCode::BadRoom, Some("c-2")).await;
}

#[tokio::test]
async fn someone_elses_private_room_is_forbidden() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send(&ClientFrame::Join {
        room: "~dm.u_x.u_y".into(),
        since: None,
    })
    .await;
    expect_error(&mut ada, ErrorCode::Forbidden, None).await;
    ada.send(&ClientFrame::History {
        room: "~pair.p1".into(),
        before: 10,
        limit: None,
    })
    .await;
    expect_error(&mut ada, ErrorCode::Forbidden, None).await;
}

#[tokio::test]
async fn send_typing_and_leave_need_a_join() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.say("lobby", "hi", Some("c-3")).await;
    expect_error(&mut ada, ErrorCode::NotJoined, Some("c-3")).await;
    ada.send(&ClientFrame::Typing {
        room: "lobby".into(),
        active: true,
    })
    .await;
    expect_error(&mut ada, ErrorCode::NotJoined, None).await;
    ada.send(&ClientFrame::Leave {
        room: "lobby".into(),
    })
    .await;
    expect_error(&mut ada, ErrorCode::NotJoined, None).await;
}

#[tokio::test]
async fn blank_text_is_empty_and_long_text_is_too_long() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    ada.say("lobby", " \n\t ", Some("c-4")).await;
    expect_error(&mut ada, ErrorCode::Empty, Some("c-4")).await;
    ada.say("lobby", &"x".repeat(4001), Some("c-5")).await;
    expect_error(&mut ada, ErrorCode::TooLong, Some("c-5")).await;
    // Nothing was stored: the next message is seq 1.
    ada.say("lobby", &"x".repeat(4000), Some("c-6")).await;
    match ada.recv().await {
        ServerFrame::Message {
            message,
            client_ref,
        } => assert_eq!((message.seq, client_ref.as_deref()), (1, Some("c-6"))),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_history_limit_is_bad_frame() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.send_json(json!({"type": "history", "room": "lobby", "before": 5, "limit": 500}))
        .await;
    expect_error(&mut ada, ErrorCode::BadFrame, None).await;
}

#[tokio::test]
async fn too_many_frames_are_rate_limited_with_retry_ms() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.rate_per_sec = 1;
        c.rate_burst = 4; // the join and three sends
    })
    .await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    for i in 0..3 {
        ada.say("lobby", &format!("m{i}"), Some("ok")).await;
    }
    ada.say("lobby", "one too many", Some("c-7")).await;
    let frame = ada
        .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
        .await;
    match frame {
        ServerFrame::Error {
            code,
            client_ref,
            retry_ms,
            ..
        } => {
            assert_eq!(code, ErrorCode::RateLimited);
            assert_eq!(client_ref.as_deref(), Some("c-7"));
            let retry_ms = retry_ms.expect("retry_ms");
            assert!((1..=1000).contains(&retry_ms), "{retry_ms}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn text_with_control_characters_is_bad_frame_and_stores_nothing() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    ada.say("lobby", "clear\u{1b}[2J", Some("esc")).await;
    expect_error(&mut ada, ErrorCode::BadFrame, Some("esc")).await;
    ada.say("lobby", "nul\u{0}", Some("nul")).await;
    expect_error(&mut ada, ErrorCode::BadFrame, Some("nul")).await;
    ada.say("lobby", "two\nlines\tok", Some("ok")).await;
    match ada.recv().await {
        ServerFrame::Message { message, .. } => assert_eq!(message.seq, 1),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn joining_more_rooms_than_the_limit_is_limit() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| c.max_rooms_per_connection = 3).await;
    let mut ada = server.connect("Ada").await;
    for room in ["a", "b", "c"] {
        ada.join(room).await;
    }
    // Joining a room again is not one more.
    ada.join("a").await;
    ada.send(&ClientFrame::Join {
        room: "d".into(),
        since: None,
    })
    .await;
    expect_error(&mut ada, ErrorCode::Limit, None).await;
    // Leaving makes room.
    ada.send(&ClientFrame::Leave { room: "a".into() }).await;
    assert!(matches!(ada.recv().await, ServerFrame::Left { .. }));
    ada.join("d").await;
}
