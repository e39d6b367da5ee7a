//! The browser app against the real server, in Debian's headless Chromium.
//!
//! Needs `dist/` (built by `trunk build --release`, which `just test` does first) and
//! `/usr/bin/chromium` + `/usr/bin/chromedriver` (which `.ci/run` installs).
#![allow(clippy::unwrap_used)]

use chat_server::{Config, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The server on a free port, serving the built app, with a fresh database.
struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        Self::start_at("127.0.0.1:0".parse().unwrap(), TempDir::new("server")).await
    }

    /// Starts on `addr` with the database in `dir` (to restart where another stopped).
    async fn start_at(addr: SocketAddr, dir: TempDir) -> TestServer {
        let dist = workspace_dir().join("dist");
        assert!(
            dist.join("index.html").exists(),
            "no browser app in {}: run `trunk build --release` (just test does)",
            dist.display()
        );
        let mut config = Config::defaults();
        config.static_dir = dist;
        config.database_url = format!("sqlite://{}", dir.0.join("chat.db").display());
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

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl TestServer {
    /// Shuts down (sockets get 1001) and hands back the database for a restart.
    async fn stop(mut self) -> (SocketAddr, TempDir) {
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
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chat-e2e-{what}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
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
struct Driver {
    child: Child,
    port: u16,
    _profiles: TempDir,
}

impl Driver {
    async fn start() -> Driver {
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
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver {
            child,
            port,
            _profiles: profiles,
        }
    }

    /// A new headless browser window of the given size.
    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut caps = serde_json::Map::new();
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

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Types a name and enters the chat, then joins `room`.
async fn enter(browser: &Client, url: &str, name: &str, room: &str) {
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
    wait_for_text(browser, ".room-title", room).await;
}

/// Waits until some element matching `css` has exactly `text`.
async fn wait_for_text(browser: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        for element in browser.find_all(Locator::Css(css)).await.unwrap() {
            if element.text().await.unwrap_or_default() == text {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no {css} with text {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn say(browser: &Client, text: &str) {
    let composer = browser.find(Locator::Css("#message")).await.unwrap();
    // U+E007 is WebDriver's Enter key.
    composer
        .send_keys(&format!("{text}\u{E007}"))
        .await
        .unwrap();
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = workspace_dir().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_a_room() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    let bob = driver.browser(1280, 800).await;

    enter(&ada, &server.url(), "Ada", "lobby").await;
    enter(&bob, &server.url(), "Bob", "lobby").await;
    wait_for_text(&ada, ".notice", "Bob joined").await;
    wait_for_text(&bob, ".members li", "Ada").await;

    say(&ada, "Hello Bob!").await;
    wait_for_text(&bob, ".message .text", "Hello Bob!").await;
    wait_for_text(&ada, ".message.mine .text", "Hello Bob!").await;

    // Typing shows on the other side.
    bob.find(Locator::Css("#message"))
        .await
        .unwrap()
        .send_keys("Hi")
        .await
        .unwrap();
    wait_for_text(&ada, ".typing", "Bob is typing…").await;
    bob.find(Locator::Css("#message"))
        .await
        .unwrap()
        .send_keys(" Ada, welcome!\u{E007}")
        .await
        .unwrap();
    wait_for_text(&ada, ".message .text", "Hi Ada, welcome!").await;

    // Markup in a message is text, never HTML.
    let attack = "<img src=x onerror=alert(1)>";
    say(&bob, attack).await;
    wait_for_text(&ada, ".message .text", attack).await;
    let images = ada.find_all(Locator::Css(".messages img")).await.unwrap();
    assert!(images.is_empty(), "the message was rendered as HTML");

    screenshot(&ada, "room-390x844").await;
    screenshot(&bob, "room-1280x800").await;

    // Bob closes his window: Ada sees him leave.
    bob.close().await.unwrap();
    wait_for_text(&ada, ".notice", "Bob left").await;
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_identity_rooms_and_history() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    say(&ada, "before the reload").await;
    wait_for_text(&ada, ".message.mine .text", "before the reload").await;

    ada.refresh().await.unwrap();
    // No name dialog, the room rejoined, and the message is still this user's own.
    wait_for_text(&ada, ".room-title", "lobby").await;
    wait_for_text(&ada, ".message.mine .text", "before the reload").await;
    assert!(
        ada.find_all(Locator::Css("#name"))
            .await
            .unwrap()
            .is_empty()
    );
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_after_a_server_restart_and_misses_nothing() {
    use futures_util::SinkExt;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    say(&ada, "first").await;
    wait_for_text(&ada, ".message.mine .text", "first").await;

    let (addr, database) = server.stop().await;
    // The page notices: its status says it is offline and retrying.
    ada.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".status.offline"))
        .await
        .unwrap();
    let server = TestServer::start_at(addr, database).await;
    // Someone else writes while the page is still waiting to reconnect.
    let (mut bob, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?name=Bob"))
        .await
        .unwrap();
    let frames = [
        serde_json::json!({"type": "join", "room": "lobby"}),
        serde_json::json!({"type": "send", "room": "lobby", "text": "sent while you were away"}),
    ];
    for frame in frames {
        bob.send(tokio_tungstenite::tungstenite::Message::text(
            frame.to_string(),
        ))
        .await
        .unwrap();
    }
    wait_for_text(&ada, ".message .text", "sent while you were away").await;
    wait_for_text(&ada, ".status", "Online").await;
    drop(server);
    ada.close().await.unwrap();
}
