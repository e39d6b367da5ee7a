//! The plain HTTP routes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};

#[tokio::test]
async fn healthz_answers_ok() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn rooms_lists_public_rooms_most_online_first() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let (status, body) = server.get("/api/rooms").await;
    assert_eq!((status, body.as_str()), (200, "[]"));

    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    ada.join("quiet").await;
    ada.say("quiet", "anyone?", None).await;
    ada.recv().await;
    ada.join("busy").await;
    bob.join("busy").await;

    let (status, body) = server.get("/api/rooms").await;
    assert_eq!(status, 200);
    let rooms: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rooms[0]["room"], "busy");
    assert_eq!(rooms[0]["online"], 2);
    assert_eq!(rooms[0]["last_seq"], 0);
    assert_eq!(rooms[1]["room"], "quiet");
    assert_eq!(rooms[1]["online"], 1);
    assert_eq!(rooms[1]["last_seq"], 1);
    assert!(rooms[1]["last_ts"].as_i64().unwrap() > 0);
    assert_eq!(rooms.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_browser_app_is_served_with_an_index_fallback() {
    let dir = std::env::temp_dir().join(format!("chat-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<title>chat</title>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    let static_dir = dir.clone();
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, move |c| c.static_dir = Some(static_dir)).await;
    assert_eq!(
        server.get("/").await,
        (200, "<title>chat</title>".to_owned())
    );
    assert_eq!(
        server.get("/app.js").await,
        (200, "console.log(1)".to_owned())
    );
    let (status, body) = server.get("/rooms/lobby").await;
    assert_eq!((status, body.as_str()), (200, "<title>chat</title>"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The value of one sample line, e.g. `chat_connections 2`.
fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_what_happens() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let (mut ada, mut bob) = server.pair_in("lobby").await;
    ada.say("lobby", "hello", None).await;
    ada.recv().await;
    bob.recv().await;
    ada.say("elsewhere", "nope", None).await; // not joined
    ada.recv().await;

    let (status, body) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "chat_connections"), 2.0);
    assert_eq!(sample(&body, "chat_room_subscriptions"), 2.0);
    assert_eq!(sample(&body, "chat_messages_stored_total"), 1.0);
    assert_eq!(sample(&body, "chat_deliveries_total"), 2.0);
    assert_eq!(sample(&body, "chat_slow_consumer_closes_total"), 0.0);
    assert_eq!(
        sample(&body, r#"chat_errors_total{code="not_joined"}"#),
        1.0
    );
    assert_eq!(sample(&body, r#"chat_errors_total{code="internal"}"#), 0.0);
    assert_eq!(sample(&body, "chat_store_commit_seconds_count"), 1.0);
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );

    drop(bob.ws);
    ada.recv().await; // bob's leave notice
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, body) = server.get("/metrics").await;
        if sample(&body, "chat_connections") == 1.0 {
            assert_eq!(sample(&body, "chat_room_subscriptions"), 1.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob is never counted out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
