//! A real server on port 0 and real WebSocket clients, shared by the integration tests.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub mod auth;
mod backend;
mod child;
pub mod proxy;
pub mod redis;

pub use backend::Backend;
pub use child::ChildServer;

use chat_protocol::{ClientFrame, ErrorCode, PrivateRoom, ServerFrame, User};
use chat_server::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    /// Set when the server refuses anonymous users: test clients then sign in with it.
    pub jwt_secret: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Test defaults on the given database: no rate limit (tests that need one set it), no
/// static files.
pub fn test_config(backend: &Backend) -> Config {
    let mut config = Config::defaults();
    config.database_url = backend.url.clone();
    config.rate_per_sec = 0;
    config.static_dir = Some(std::env::temp_dir().join("chat-test-no-static"));
    if let Some(redis) = &backend.redis {
        config.redis_url = Some(redis.url.clone());
        config.redis_namespace = redis.namespace.clone();
    }
    if backend.signed_in {
        config.jwt_secret = Some(auth::TEST_JWT_SECRET.to_owned());
        config.allow_anonymous = Some(false);
    }
    config
}

impl TestServer {
    pub async fn start(backend: &Backend) -> TestServer {
        Self::with_config(test_config(backend)).await
    }

    pub async fn with(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(backend);
        tweak(&mut config);
        Self::with_config(config).await
    }

    pub async fn with_config(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let jwt_secret = config
            .jwt_secret
            .clone()
            .filter(|_| config.allow_anonymous != Some(true));
        let server = Server::build(config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            jwt_secret,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The socket URL with `query`, signed in when the server refuses anonymous users
    /// (see [`auth::with_credentials`]).
    pub fn ws_url(&self, query: &str) -> String {
        let query = auth::with_credentials(query, self.jwt_secret.as_deref());
        format!("ws://{}/ws{query}", self.addr)
    }

    /// Connects and reads the `welcome`.
    pub async fn connect(&self, name: &str) -> Client {
        self.connect_query(&format!("?name={name}")).await
    }

    /// Ada and Bob, both joined to `room`, with Ada past the notice of Bob's join: the
    /// starting point of most two-person tests.
    pub async fn pair_in(&self, room: &str) -> (Client, Client) {
        let mut ada = self.connect("Ada").await;
        let mut bob = self.connect("Bob").await;
        ada.join(room).await;
        bob.join(room).await;
        match ada.recv().await {
            ServerFrame::System { user, .. } if user == bob.user => {}
            other => panic!("expected Bob's join notice, got {other:?}"),
        }
        (ada, bob)
    }

    /// Connects again as the user of `client`, through its session.
    pub async fn reconnect(&self, client: &Client) -> Client {
        self.connect_query(&format!("?session={}", client.session))
            .await
    }

    /// A user others can find: connected, and stored by joining a room of their own
    /// (so that no other test user's notices reach them).
    pub async fn known_user(&self, name: &str) -> Client {
        let mut client = self.connect(name).await;
        client.join(&format!("home-{name}")).await;
        client
    }

    pub async fn connect_query(&self, query: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(self.ws_url(query))
            .await
            .unwrap();
        Client::welcomed(ws).await
    }

    /// The HTTP status of an upgrade the server must refuse.
    pub async fn refusal(&self, query: &str) -> u16 {
        match tokio_tungstenite::connect_async(self.ws_url(query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            other => panic!("{query}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    /// Asks the server to shut down and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(WAIT * 2, task).await??,
            None => Ok(()),
        }
    }

    /// A plain HTTP GET: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path, &[]).await
    }

    /// Waits until the server counts `n` open connections (a closed socket's clean-up,
    /// its leave notices included, is done by then).
    pub async fn wait_for_connections(&self, n: usize) {
        let wanted = format!("\nchat_connections {n}\n");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, metrics) = self.get("/metrics").await;
            if metrics.contains(&wanted) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {n} connections:\n{metrics}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http_request(addr, "GET", path, headers, "").await
}

/// A minimal HTTP/1.1 request over a fresh connection: status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Client {
    pub ws: Socket,
    pub user: User,
    pub session: String,
    /// `welcome.rooms` and `welcome.blocked`.
    pub rooms: Vec<PrivateRoom>,
    pub blocked: Vec<String>,
}

/// What `matched` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    pub room: String,
    pub you: User,
    pub peer: User,
    pub common: Vec<String>,
}

impl Client {
    /// Opens a socket to a URL and reads its `welcome`.
    pub async fn open(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connecting timed out")
            .unwrap();
        Client::welcomed(ws).await
    }

    /// Reads the `welcome` of a socket just opened.
    pub async fn welcomed(mut ws: Socket) -> Client {
        match next_frame(&mut ws).await {
            ServerFrame::Welcome {
                user,
                session,
                rooms,
                blocked,
            } => Client {
                ws,
                user,
                session,
                rooms,
                blocked,
            },
            other => panic!("expected welcome first, got {other:?}"),
        }
    }

    /// Sends `match` with these interests and reads the `queued` reply.
    pub async fn queue(&mut self, interests: &[&str]) {
        self.send(&ClientFrame::Match {
            interests: interests.iter().map(|t| t.to_string()).collect(),
        })
        .await;
        self.recv_until(|f| matches!(f, ServerFrame::Queued)).await;
    }

    /// Reads `matched` (it must be the next frame) and the `joined` of the pair room.
    pub async fn matched(&mut self) -> Paired {
        let paired = match self.recv().await {
            ServerFrame::Matched {
                room,
                you,
                peer,
                common,
            } => Paired {
                room,
                you,
                peer,
                common,
            },
            other => panic!("expected matched, got {other:?}"),
        };
        match self.recv().await {
            ServerFrame::Joined { room, you, .. } if room == paired.room => {
                assert_eq!(you.as_ref(), Some(&paired.you), "joined.you is the alias");
            }
            other => panic!("expected the pair's joined, got {other:?}"),
        }
        paired
    }

    pub async fn dm(&mut self, to: &str, text: &str, client_ref: Option<&str>) {
        self.send(&ClientFrame::Dm {
            to: to.into(),
            text: text.into(),
            client_ref: client_ref.map(str::to_owned),
        })
        .await;
    }

    /// Reads until an `error` and returns its code and ref.
    pub async fn error(&mut self) -> (ErrorCode, Option<String>) {
        match self
            .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
            .await
        {
            ServerFrame::Error {
                code, client_ref, ..
            } => (code, client_ref),
            _ => unreachable!(),
        }
    }

    /// Reads until the message with this text, whether it comes as a `message` or in
    /// the history of a `joined` (a connection subscribed by a direct message may read
    /// the history after the message was stored).
    pub async fn expect_text(&mut self, room: &str, text: &str) {
        loop {
            match self.recv().await {
                ServerFrame::Message { message, .. } if message.room == room => {
                    assert_eq!(message.text, text);
                    return;
                }
                ServerFrame::Joined {
                    room: joined,
                    history,
                    ..
                } if joined == room && history.iter().any(|m| m.text == text) => return,
                _ => {}
            }
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&serde_json::to_string(frame).unwrap()).await;
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn recv(&mut self) -> ServerFrame {
        next_frame(&mut self.ws).await
    }

    /// Skips frames until one matches.
    pub async fn recv_until(
        &mut self,
        mut wanted: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        loop {
            let frame = self.recv().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Joins a room and returns its `joined` reply.
    pub async fn join(&mut self, room: &str) -> ServerFrame {
        self.send(&ClientFrame::Join {
            room: room.into(),
            since: None,
        })
        .await;
        self.recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
            .await
    }

    pub async fn say(&mut self, room: &str, text: &str, client_ref: Option<&str>) {
        self.send(&ClientFrame::Send {
            room: room.into(),
            text: text.into(),
            client_ref: client_ref.map(str::to_owned),
        })
        .await;
    }

    /// Proves the connection is open and in order: a ping gets its pong.
    pub async fn assert_alive(&mut self) {
        self.send(&ClientFrame::Ping).await;
        self.recv_until(|f| matches!(f, ServerFrame::Pong)).await;
    }

    /// Proves that nothing is queued for this connection: a ping's pong must be the
    /// very next frame. Whatever the server had queued before it (a frame this test says
    /// must not come) would arrive first. An ordering probe, not a wait.
    pub async fn assert_nothing_before_pong(&mut self) {
        self.send(&ClientFrame::Ping).await;
        match self.recv().await {
            ServerFrame::Pong => {}
            other => panic!("expected nothing before the pong, got {other:?}"),
        }
    }

    /// Reads until the server's close frame and returns its code.
    pub async fn close_code(&mut self) -> u16 {
        close_code(&mut self.ws).await
    }
}

/// The next text frame as a [`ServerFrame`], skipping control frames.
/// Sends `count` messages (`m1`, `m2`, …) to `room` and waits until the last is
/// delivered back; returns its seq.
pub async fn fill(client: &mut Client, room: &str, count: usize) -> u64 {
    for i in 1..=count {
        client.say(room, &format!("m{i}"), None).await;
    }
    let mut last = 0;
    while last < count as u64 {
        if let ServerFrame::Message { message, .. } = client.recv().await {
            last = message.seq;
        }
    }
    last
}

/// The seqs of some messages, in their order.
pub fn seqs(messages: &[chat_protocol::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

pub async fn next_frame(ws: &mut Socket) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a frame");
        match message {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("undecodable frame {text}: {e}"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads (discarding) until the close frame and returns its code.
pub async fn close_code(ws: &mut Socket) -> u16 {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for close");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => return u16::from(CloseCode::Status),
            Some(Ok(_)) => {}
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}
