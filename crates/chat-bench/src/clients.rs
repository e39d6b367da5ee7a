//! Opening many benchmark connections: small buffers, bounded parallelism, joined rooms.

use crate::wire;
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connections opened at once; more would only queue in the server's accept backlog.
const PARALLEL_CONNECTS: usize = 64;

/// Small buffers: thousands of connections must fit in the load generator's memory.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

/// Opens a connection named `name` and joins `room`, waiting for `joined`. With
/// `tiny_receive_buffer`, the kernel holds little for this client, so a client that does
/// not read falls behind at once (the slow-consumer scenario).
pub async fn connect_and_join(
    addr: &str,
    name: &str,
    room: &str,
    tiny_receive_buffer: bool,
) -> anyhow::Result<Socket> {
    let socket = TcpSocket::new_v4()?;
    if tiny_receive_buffer {
        socket.set_recv_buffer_size(4096)?;
    }
    let stream = socket.connect(addr.parse()?).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}/ws?name={name}");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        url,
        MaybeTlsStream::Plain(stream),
        Some(config()),
    )
    .await
    .with_context(|| format!("connecting {name}"))?;
    ws.send(Message::text(wire::join_frame(room))).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if wire::is_joined(&text) => return Ok(ws),
            Some(Ok(_)) => {}
            other => anyhow::bail!("{name}: connection ended before joined: {other:?}"),
        }
    }
}

/// Opens `count` connections in parallel (bounded), the i-th named by `name(i)` and
/// joined to `room(i)`. Returns them in order.
pub async fn open_many(
    addr: &str,
    count: usize,
    name: impl Fn(usize) -> String,
    room: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<Socket>> {
    let permits = Arc::new(Semaphore::new(PARALLEL_CONNECTS));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = permits.clone().acquire_owned().await?;
        let (addr, name, room) = (addr.to_owned(), name(i), room(i));
        tasks.push(tokio::spawn(async move {
            let socket = connect_and_join(&addr, &name, &room, false).await;
            drop(permit);
            socket
        }));
    }
    let mut sockets = Vec::with_capacity(count);
    for task in tasks {
        sockets.push(task.await??);
    }
    Ok(sockets)
}
