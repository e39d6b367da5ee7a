//! Shutdown stores what clients sent, closes every socket with 1001, and exits 0.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::ServerFrame;
use common::{Backend, TestServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

async fn shutdown_stores_and_delivers_pending_messages_then_closes_with_1001(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ada = server.connect("Ada").await;
    let mut bob = server.connect("Bob").await;
    ada.join("lobby").await;
    bob.join("lobby").await;
    ada.recv().await; // bob's system join
    for i in 0..50 {
        ada.say("lobby", &format!("last words {i}"), None).await;
    }
    // Give the frames time to reach the server's reader, not to be handled.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await.unwrap();
    let mut seqs = Vec::new();
    let code = loop {
        match tokio::time::timeout(common::WAIT, futures_util::StreamExt::next(&mut bob.ws))
            .await
            .unwrap()
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                if let Ok(ServerFrame::Message { message, .. }) = serde_json::from_str(&text) {
                    seqs.push(message.seq);
                }
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                break u16::from(frame.code);
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 1001);
    assert_eq!(
        seqs,
        (1..=50).collect::<Vec<_>>(),
        "nothing sent before shutdown is lost"
    );
    assert_eq!(ada.close_code().await, 1001);

    // They were stored, too: a new server on the same database has them.
    let server = TestServer::start(&backend).await;
    let mut carol = server.connect("Carol").await;
    match carol.join("lobby").await {
        ServerFrame::Joined { history, .. } => {
            let stored: Vec<u64> = history.iter().map(|m| m.seq).collect();
            assert_eq!(stored, (1..=50).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
}

on_every_backend!(shutdown_stores_and_delivers_pending_messages_then_closes_with_1001);

/// Kills the child if the test fails before it exits on its own.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_exits_0_on_sigterm_after_closing_sockets_with_1001() {
    let backend = Backend::sqlite();
    let child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", "127.0.0.1:0", "--database-url", &backend.url])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("server exited early").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?name=Ada"))
        .await
        .unwrap();
    common::next_frame(&mut ws).await; // welcome

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(common::close_code(&mut ws).await, 1001);
    let exit = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}
