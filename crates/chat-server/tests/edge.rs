//! The HTTP edge against hostile clients: connections that never finish their request
//! (slowloris, silent sockets) cost nothing lasting, and the server keeps serving at its
//! file limit.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, ChildServer, TestServer, WAIT, http_get};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Waits for the server to hang up on `stream`; returns when it did.
async fn hung_up(mut stream: TcpStream) -> Instant {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Instant::now(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept an unfinished connection open"),
        }
    }
}

/// A socket that sends the start of a request head and then one more byte every 50 ms,
/// never finishing it (slowloris).
fn trickle(addr: SocketAddr) -> tokio::task::JoinHandle<Instant> {
    tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                if write.write_all(b"X").await.is_err() {
                    return;
                }
            }
        });
        let mut buf = [0u8; 64];
        let closed = loop {
            match tokio::time::timeout(WAIT, read.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break Instant::now(),
                Ok(Ok(_)) => {}
                Err(_) => panic!("a slowloris connection was never dropped"),
            }
        };
        writer.abort();
        closed
    })
}

/// A healthy client: the health check answers, and a WebSocket opens and talks.
async fn healthy_client_is_served(server: &TestServer) {
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let mut client = server.connect("Healthy").await;
    client.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_silent_sockets_are_dropped_at_the_deadline() {
    let backend = Backend::sqlite();
    let deadline = Duration::from_millis(1500);
    let server = TestServer::with(&backend, |c| c.request_head_timeout = deadline).await;
    let opened = Instant::now();
    let trickling: Vec<_> = (0..200).map(|_| trickle(server.addr)).collect();
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // While they hang on, healthy clients keep connecting.
    for _ in 0..10 {
        healthy_client_is_served(&server).await;
    }
    let silent: Vec<_> = silent
        .into_iter()
        .map(|s| tokio::spawn(hung_up(s)))
        .collect();
    for task in trickling.into_iter().chain(silent) {
        let closed = task.await.unwrap();
        let after = closed - opened;
        assert!(
            after >= deadline - Duration::from_millis(100),
            "dropped after {after:?}, before the {deadline:?} deadline"
        );
    }
    healthy_client_is_served(&server).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_deadline_too() {
    let backend = Backend::sqlite();
    let deadline = Duration::from_millis(500);
    let server = TestServer::with(&backend, |c| c.request_head_timeout = deadline).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    while !response.windows(15).any(|w| w == b"{\"status\":\"ok\"}") {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        response.extend_from_slice(&buf[..n]);
    }
    // The connection stays open for another request, but not forever.
    let answered = Instant::now();
    let closed = hung_up(stream).await;
    assert!(closed - answered >= deadline - Duration::from_millis(100));
}

#[tokio::test]
async fn beyond_the_cap_the_oldest_unfinished_connection_makes_room() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.request_head_timeout = Duration::from_secs(60);
        c.max_pending_connections = 20;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    healthy_client_is_served(&server).await;
    // The deadline is a minute away, so only eviction can have closed the oldest 20.
    let oldest: Vec<_> = silent.drain(..20).collect();
    for stream in oldest {
        hung_up(stream).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_its_file_limit_the_server_keeps_answering() {
    let backend = Backend::sqlite();
    // 64 descriptors: the runtime, the database and the listener take some; 100 silent
    // sockets would take the rest and more.
    let child = ChildServer::spawn_limited(&backend, Some(64));
    let addr: SocketAddr = child.addr.parse().unwrap();
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    for _ in 0..5 {
        let (status, body) = tokio::time::timeout(WAIT, http_get(addr, "/healthz", &[]))
            .await
            .expect("/healthz answers while the file limit is reached");
        assert_eq!(status, 200, "{body}");
    }
    drop(silent);
}

/// Each of these requests to `/ws` breaks a rule of RFC 6455 §4.2.1 and gets 400.
#[tokio::test]
async fn only_a_valid_handshake_is_upgraded() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let cases = [
        (
            "HTTP/1.0",
            format!("GET /ws HTTP/1.0\r\nHost: x\r\n{upgrade}{key}\r\n"),
        ),
        (
            "HEAD",
            format!("HEAD /ws HTTP/1.1\r\nHost: x\r\n{upgrade}{key}\r\n"),
        ),
        ("no Host", format!("GET /ws HTTP/1.1\r\n{upgrade}{key}\r\n")),
        (
            "short key",
            format!("GET /ws HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n"),
        ),
        (
            "key not base64",
            format!(
                "GET /ws HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: ????????????????????????\r\n\r\n"
            ),
        ),
    ];
    for (case, request) in cases {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 12];
        tokio::time::timeout(WAIT, stream.read_exact(&mut response))
            .await
            .unwrap_or_else(|_| panic!("{case}: no answer"))
            .unwrap();
        let status = String::from_utf8_lossy(&response[9..12]).into_owned();
        assert_eq!(
            status,
            "400",
            "{case}: {}",
            String::from_utf8_lossy(&response)
        );
    }
}

/// Opens a socket claiming `forwarded` in `X-Forwarded-For`: the socket, or the refusal's
/// status and `Retry-After`.
async fn connect_claiming(
    server: &TestServer,
    forwarded: &str,
) -> Result<common::Socket, (u16, String)> {
    use tokio_tungstenite::tungstenite::{Error, client::IntoClientRequest};
    let mut request = server.ws_url("?name=Ada").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("X-Forwarded-For", forwarded.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => Err((
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        )),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_connect_allowance() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.connects_per_minute = 2;
        c.trust_proxy = true;
    })
    .await;
    // What the client wrote before the proxy's own entry does not count.
    let _a1 = connect_claiming(&server, "203.0.113.1").await.unwrap();
    let _a2 = connect_claiming(&server, "198.51.100.9, 203.0.113.1")
        .await
        .unwrap();
    let refused = connect_claiming(&server, "203.0.113.1").await.unwrap_err();
    assert_eq!(refused.0, 429);
    let retry_after: u64 = refused.1.parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let _b = connect_claiming(&server, "203.0.113.2").await.unwrap();
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("chat_connects_refused_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_trust_proxy_a_forwarded_address_is_ignored() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.connects_per_minute = 2;
        c.trust_proxy = false;
    })
    .await;
    let _a = connect_claiming(&server, "203.0.113.1").await.unwrap();
    let _b = connect_claiming(&server, "203.0.113.2").await.unwrap();
    // All three come from 127.0.0.1, whatever they claim.
    let refused = connect_claiming(&server, "203.0.113.3").await.unwrap_err();
    assert_eq!(refused.0, 429);
}
