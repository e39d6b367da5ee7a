//! The server rides out its database going away and coming back, without a restart.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ErrorCode, ServerFrame};
use common::proxy::{Proxy, reroute};
use common::{Backend, TestServer};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_internal_errors_and_503_then_recovers() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    // Migrate directly, then route the server through the proxy.
    drop(TestServer::start(&backend).await);
    let (_, upstream) = reroute(&backend.url, "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::start(upstream).await;
    let (url, _) = reroute(&backend.url, proxy.addr);
    let server = TestServer::with(&backend, |c| c.database_url = url).await;

    let mut ada = server.connect("Ada").await;
    ada.join("lobby").await;
    ada.say("lobby", "before", Some("b")).await;
    assert!(matches!(ada.recv().await, ServerFrame::Message { message, .. } if message.seq == 1));

    proxy.cut();
    ada.say("lobby", "during", Some("d")).await;
    match ada.recv().await {
        ServerFrame::Error {
            code, client_ref, ..
        } => assert_eq!(
            (code, client_ref.as_deref()),
            (ErrorCode::Internal, Some("d"))
        ),
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert_eq!(server.get("/healthz").await.0, 503);
    ada.assert_alive().await;

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while server.get("/healthz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ada.say("lobby", "after", Some("a")).await;
    match ada.recv().await {
        ServerFrame::Message {
            message,
            client_ref,
        } => {
            assert_eq!(client_ref.as_deref(), Some("a"));
            assert_eq!(message.seq, 2, "the failed message took no seq");
        }
        other => panic!("{other:?}"),
    }
}
