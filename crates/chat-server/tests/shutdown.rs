//! Shutdown stores what clients sent, closes every socket with 1001, and exits 0.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::ServerFrame;
use common::{Backend, ChildServer, TestServer};

async fn shutdown_stores_and_delivers_pending_messages_then_closes_with_1001(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mut ada, mut bob) = server.pair_in("lobby").await;
    for i in 0..50 {
        ada.say("lobby", &format!("last words {i}"), None).await;
    }
    // The pong proves the server has handled every send (frames are handled in order);
    // the messages themselves may still be on their way through the journal.
    ada.send(&chat_protocol::ClientFrame::Ping).await;
    ada.recv_until(|f| matches!(f, ServerFrame::Pong)).await;
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

#[tokio::test]
async fn the_binary_exits_0_on_sigterm_after_closing_sockets_with_1001() {
    let backend = Backend::sqlite();
    let server = ChildServer::spawn(&backend);
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("?name=Ada"))
        .await
        .unwrap();
    common::next_frame(&mut ws).await; // welcome
    server.signal("TERM");
    assert_eq!(common::close_code(&mut ws).await, 1001);
    let exit = server.wait().await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}
