//! The framing layer as an echo server, for conformance testing by hand:
//!
//! ```sh
//! cargo run -p chat-wire --example echo -- 127.0.0.1:9001
//! ```
//!
//! then point a WebSocket test client (Autobahn|Testsuite's `fuzzingclient`, say) at
//! `ws://127.0.0.1:9001`. `cargo test -p chat-wire --test conformance` runs the
//! project's own case suite against the same server.

#[path = "../tests/conformance/echo.rs"]
mod echo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("echoing WebSocket messages on ws://{addr}");
    echo::serve(listener, 16 * 1024 * 1024).await;
    Ok(())
}
