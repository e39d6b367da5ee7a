//! The socket-level rules: binary frames, oversized frames, pings, silent peers, and the
//! checks made before the upgrade.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestServer, close_code};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    ada.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(ada.close_code().await, 1003);
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    // 64 KiB exactly is allowed (it is refused as too long a text, not closed).
    let frame_of = |len: usize| {
        let envelope = r#"{"type":"ping","pad":""}"#.len();
        format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(len - envelope)
        )
    };
    let at_limit = frame_of(64 * 1024);
    assert_eq!(at_limit.len(), 64 * 1024);
    ada.send_text(&at_limit).await;
    ada.recv().await;
    ada.send_text(&frame_of(64 * 1024 + 1)).await;
    assert_eq!(ada.close_code().await, 1009);
}

#[tokio::test]
async fn the_server_pings_and_a_live_client_stays_connected() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let mut ada = server.connect("Ada").await;
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    // Reading lets tungstenite answer each ping with a pong, which keeps us alive.
    while let Ok(Some(message)) = tokio::time::timeout_at(until, ada.ws.next()).await {
        if matches!(message.unwrap(), Message::Ping(_)) {
            pings += 1;
        }
    }
    assert!(
        pings >= 5,
        "only {pings} pings in 1.5 s at a 100 ms interval"
    );
    ada.assert_alive().await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_idle_timeout() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.ping_interval = Duration::from_secs(30);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut ada = server.connect("Ada").await;
    // Reading sends nothing (no pings come to answer): the server hears nothing.
    assert_eq!(close_code(&mut ada.ws).await, 1001);
}

#[tokio::test]
async fn an_invalid_name_is_refused_with_400_before_the_upgrade() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let long = "n".repeat(33);
    for query in [
        "?name=",
        "?name=%20%20",
        &format!("?name={long}"),
        "?name=a%07b",
        // Invisible characters: a zero-width space, a right-to-left override, a filler.
        "?name=Admin%E2%80%8B",
        "?name=%E2%80%AEnimdA",
        "?name=%E3%85%A4",
    ] {
        match tokio_tungstenite::connect_async(server.ws_url(query)).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{query}");
            }
            other => panic!("{query}: expected HTTP 400, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn an_origin_off_the_allow_list_is_refused_with_403() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.allowed_origins = vec!["https://chat.example".into()];
    })
    .await;
    let with_origin = |origin: &'static str| {
        let mut request = server.ws_url("?name=Ada").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_static(origin));
        request
    };
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected HTTP 403, got {:?}", other.map(|_| ())),
    }
    let allowed = tokio_tungstenite::connect_async(with_origin("https://chat.example")).await;
    assert!(allowed.is_ok(), "an allowed origin connects");
    // Clients that are not browsers send no Origin and are not affected.
    server.connect("Bot").await;
}
