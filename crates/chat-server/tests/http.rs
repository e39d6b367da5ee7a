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
    let server = TestServer::with(&backend, move |c| c.static_dir = static_dir).await;
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
