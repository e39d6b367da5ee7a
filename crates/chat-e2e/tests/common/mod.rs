//! The harness of the browser tests: the real server serving `dist/`, chromedriver with
//! headless Chromium, a protocol-speaking peer, and small page helpers.
#![allow(dead_code)] // each test binary uses its own part of the harness

use chat_protocol::{ClientFrame, Message, ServerFrame};
use chat_server::{Config, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub const WAIT: Duration = Duration::from_secs(20);

/// A message of mine that the server has confirmed (not pending, not failed).
pub const SENT_BY_ME: &str = ".message.mine:not(.pending) .text";

pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The server on a free port, serving the built app, with a fresh database.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with some settings changed (a rate limit, say).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = TempDir::new("server");
        Self::start_configured("127.0.0.1:0".parse().unwrap(), dir, adjust).await
    }

    /// Starts on `addr` with the database in `dir` (to restart where another stopped).
    pub async fn start_at(addr: SocketAddr, dir: TempDir) -> TestServer {
        Self::start_configured(addr, dir, |_| {}).await
    }

    /// Starts on `addr` (port 0: any) with the database in `dir` and some settings changed.
    pub async fn start_configured(
        addr: SocketAddr,
        dir: TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dist = workspace_dir().join("dist");
        assert!(
            dist.join("index.html").exists(),
            "no browser app in {}: run `trunk build --release` (just test does)",
            dist.display()
        );
        let mut config = Config::defaults();
        config.static_dir = Some(dist);
        config.database_url = format!("sqlite://{}", dir.0.join("chat.db").display());
        adjust(&mut config);
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::build(config).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl TestServer {
    /// Shuts down (sockets get 1001) and hands back the database for a restart.
    pub async fn stop(mut self) -> (SocketAddr, TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Wait until the port is free again.
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(self.addr).await.is_ok() {
            assert!(Instant::now() < deadline, "the server did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let dir = TempDir(std::mem::take(&mut self._dir.0));
        (self.addr, dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chat-e2e-{what}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return; // handed on to a restarted server
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver, killed (with its browsers) when dropped, also when a test fails.
pub struct Driver {
    child: Child,
    port: u16,
    _profiles: TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it says it is ready. The
    /// port is free when chosen but may be taken before chromedriver binds it (other
    /// tests start servers on port 0 too): then chromedriver exits, or something else
    /// answers, and another port is tried.
    pub async fn start() -> Driver {
        let deadline = Instant::now() + WAIT;
        loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let profiles = TempDir::new("profiles");
            let child = Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .env("TMPDIR", &profiles.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (apt-get install chromium-driver)");
            let mut driver = Driver {
                child,
                port,
                _profiles: profiles,
            };
            loop {
                if driver_ready(port).await {
                    return driver;
                }
                if !matches!(driver.child.try_wait(), Ok(None)) {
                    break; // it could not bind the port: try another
                }
                assert!(Instant::now() < deadline, "chromedriver did not start");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
        }
    }

    /// A new headless browser window of the given size.
    pub async fn browser(&self, width: u32, height: u32) -> Client {
        self.new_browser(width, height, false).await
    }

    /// A browser that accepts any certificate, for a server with a throwaway one.
    pub async fn browser_trusting_any_certificate(&self, width: u32, height: u32) -> Client {
        self.new_browser(width, height, true).await
    }

    async fn new_browser(&self, width: u32, height: u32, any_certificate: bool) -> Client {
        let mut caps = serde_json::Map::new();
        if any_certificate {
            caps.insert("acceptInsecureCerts".into(), true.into());
        }
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap();
        // Headless Chrome clamps --window-size to a minimum width; WebDriver does not.
        client.set_window_size(width, height).await.unwrap();
        client
    }
}

/// Whether chromedriver (and not some other server) answers `GET /status` on `port`
/// with `"ready": true`.
async fn driver_ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    // Read until the answer says so (chromedriver may keep the connection open).
    let reading = async {
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&response).replace(' ', "");
            if text.contains("\"ready\":true") {
                return true;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), reading)
        .await
        .unwrap_or(false)
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Types a name and enters the chat, then joins `room`.
pub async fn enter(browser: &Client, url: &str, name: &str, room: &str) {
    browser.goto(url).await.unwrap();
    let input = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#name"))
        .await
        .unwrap();
    input.send_keys(name).await.unwrap();
    browser
        .find(Locator::Css(".name-dialog button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    join_room(browser, room).await;
    wait_for_text(browser, ".room-title", room).await;
}

/// Types `room` into the room list's join form and submits it.
pub async fn join_room(browser: &Client, room: &str) {
    let join = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#join-room"))
        .await
        .unwrap();
    join.send_keys(room).await.unwrap();
    browser
        .find(Locator::Css(".join button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until some element matching `css` has exactly `text`.
pub async fn wait_for_text(browser: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if texts(browser, css).await.iter().any(|t| t == text) {
            return;
        }
        assert!(Instant::now() < deadline, "no {css} with text {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn say(browser: &Client, text: &str) {
    let composer = browser.find(Locator::Css("#message")).await.unwrap();
    // U+E007 is WebDriver's Enter key.
    composer
        .send_keys(&format!("{text}\u{E007}"))
        .await
        .unwrap();
}

pub async fn screenshot(browser: &Client, name: &str) {
    let dir = workspace_dir().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// How many elements matching `css` have exactly `text`.
pub async fn count_text(browser: &Client, css: &str, text: &str) -> usize {
    texts(browser, css)
        .await
        .iter()
        .filter(|t| *t == text)
        .count()
}

/// The rendered texts of every element matching `css`, in document order, in one round
/// trip (asking WebDriver element by element costs one round trip each).
pub async fn texts(browser: &Client, css: &str) -> Vec<String> {
    let found = browser
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim());",
            vec![serde_json::Value::from(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// Runs a script in the page and returns its JSON result.
pub async fn script(browser: &Client, js: &str) -> serde_json::Value {
    browser.execute(js, vec![]).await.unwrap()
}

/// Another user, speaking the protocol over a plain WebSocket the way a tool would.
pub struct Peer {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_ref: u32,
}

impl Peer {
    pub async fn connect(addr: SocketAddr, name: &str) -> Peer {
        Self::connect_query(addr, &format!("?name={name}")).await
    }

    /// Connects with exactly this upgrade query (e.g. `?tg=…`).
    pub async fn connect_query(addr: SocketAddr, query: &str) -> Peer {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{query}"))
            .await
            .unwrap();
        let mut peer = Peer {
            socket,
            next_ref: 0,
        };
        peer.until(|f| matches!(f, ServerFrame::Welcome { .. }))
            .await;
        peer
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        use futures_util::SinkExt;
        let text = serde_json::to_string(frame).unwrap();
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .unwrap();
    }

    /// Joins `room` and waits for the reply; returns the history it came with.
    pub async fn join(&mut self, room: &str) -> Vec<Message> {
        self.send(&ClientFrame::Join {
            room: room.to_owned(),
            since: None,
        })
        .await;
        match self
            .until(|f| matches!(f, ServerFrame::Joined { room: r, .. } if r == room))
            .await
        {
            ServerFrame::Joined { history, .. } => history,
            _ => unreachable!("until returns the frame it matched"),
        }
    }

    /// Says `text` in `room` and waits until the server has stored it.
    pub async fn say(&mut self, room: &str, text: &str) -> Message {
        self.next_ref += 1;
        let client_ref = format!("peer-{}", self.next_ref);
        self.send(&ClientFrame::Send {
            room: room.to_owned(),
            text: text.to_owned(),
            client_ref: Some(client_ref.clone()),
        })
        .await;
        match self
            .until(|f| match f {
                ServerFrame::Message { client_ref: r, .. } => r.as_deref() == Some(&client_ref),
                ServerFrame::Error { client_ref: r, .. } => {
                    assert_ne!(r.as_deref(), Some(client_ref.as_str()), "refused: {f:?}");
                    false
                }
                _ => false,
            })
            .await
        {
            ServerFrame::Message { message, .. } => message,
            _ => unreachable!("until returns the frame it matched"),
        }
    }

    /// Reads frames until one satisfies `wanted`, and returns it.
    pub async fn until(&mut self, mut wanted: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
        use futures_util::StreamExt;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = tokio::time::timeout(left, self.socket.next())
                .await
                .expect("the awaited frame did not come");
            let text = match next {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                other => panic!("the socket ended: {other:?}"),
            };
            let frame: ServerFrame = serde_json::from_str(&text).unwrap();
            if wanted(&frame) {
                return frame;
            }
        }
    }
}

/// Clicks the first element matching `css` whose text is exactly `text`.
pub async fn click_text(browser: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let clicked = browser
            .execute(
                "const e = Array.from(document.querySelectorAll(arguments[0])).find(e => e.innerText.trim() === arguments[1]); if (e) { e.click(); } return !!e;",
                vec![serde_json::Value::from(css), serde_json::Value::from(text)],
            )
            .await
            .unwrap();
        if clicked == serde_json::Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {css} with text {text:?} to click"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes every page this browser opens from now on run `js` before its own scripts
/// (Chrome DevTools' `Page.addScriptToEvaluateOnNewDocument`): how a test stands in for
/// what a host puts into the page, such as Telegram's bridge.
pub async fn before_every_page(browser: &Client, js: &str) {
    devtools(
        browser,
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({"source": js}),
    )
    .await;
}

/// Runs one Chrome DevTools command in this browser, through chromedriver.
pub async fn devtools(browser: &Client, cmd: &str, params: serde_json::Value) {
    #[derive(Debug)]
    struct Devtools(serde_json::Value);
    impl fantoccini::wd::WebDriverCompatibleCommand for Devtools {
        fn endpoint(
            &self,
            base: &url::Url,
            session: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base.join(&format!(
                "session/{}/goog/cdp/execute",
                session.unwrap_or("")
            ))
        }

        fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
            (http::Method::POST, Some(self.0.to_string()))
        }
    }
    let body = serde_json::json!({"cmd": cmd, "params": params});
    browser.issue_cmd(Devtools(body)).await.unwrap();
}

/// Waits until `js` (an expression) is true in the page.
pub async fn wait_until(browser: &Client, js: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if script(browser, &format!("return !!({js});")).await == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never true: {js}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain HTTP GET with headers: status and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let response = fetch(addr, path, headers).await;
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// An HTTP response as read off the socket, header names lower-cased.
pub struct Fetched {
    pub status: u16,
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The header's value, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

/// One GET on its own connection, read to the end (the server closes it).
pub async fn fetch(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Fetched {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Fetched {
        status,
        headers,
        body: response.get(split + 4..).unwrap_or_default().to_vec(),
    }
}
