//! The reference the fan-out figures are read against: a minimal broadcast server that
//! does nothing but what a fan-out needs (no storage, no presence, no limits), built the
//! plain way on tokio-tungstenite: a writer task and an unbounded channel per
//! connection, each message serialized once and its bytes shared by every recipient,
//! and every frame that waits for a connection written in one flush.
//!
//! It speaks just enough of the protocol for the load generator: `join` answers
//! `joined` (empty), `send` goes to everyone in the room as a `message` with the room's
//! next seq, `ping` answers `pong`. Run by `chat-bench reference-server`, as a process of
//! its own (pinned like the real server) so that its CPU and memory are its own.

use chat_protocol::ClientFrame;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(clap::Args, Clone, Debug)]
pub struct ReferenceArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
}

type Outgoing = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct Room {
    seq: u64,
    members: Vec<(u64, Outgoing)>,
}

#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
    next_id: AtomicU64,
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves until killed; prints `listening on http://ADDR` (what the benchmarks wait
/// for) once it accepts.
pub async fn serve(args: ReferenceArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let rooms = Arc::new(Rooms::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let rooms = rooms.clone();
        tokio::spawn(async move {
            let _ = connection(stream, rooms).await;
        });
    }
}

async fn connection(stream: TcpStream, rooms: Arc<Rooms>) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    // Small buffers, as the chat server keeps; frames fed between flushes gather in the
    // write buffer and leave in one write.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(64 * 1024);
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            sink.feed(message).await?;
            while let Ok(message) = rx.try_recv() {
                sink.feed(message).await?;
            }
            sink.flush().await?;
        }
        anyhow::Ok(())
    });
    let id = rooms.next_id.fetch_add(1, Ordering::Relaxed);
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        match serde_json::from_str::<ClientFrame>(&text) {
            Ok(ClientFrame::Join { room, .. }) => {
                let reply = format!(
                    r#"{{"type":"joined","room":{},"members":[],"online":0,"history":[],"more":false}}"#,
                    serde_json::to_string(&room)?
                );
                let _ = tx.send(Message::text(reply));
                rooms
                    .lock()
                    .entry(room.clone())
                    .or_default()
                    .members
                    .push((id, tx.clone()));
                joined.push(room);
            }
            Ok(ClientFrame::Send { room, text, .. }) => {
                let mut all = rooms.lock();
                let Some(state) = all.get_mut(&room) else {
                    continue;
                };
                state.seq += 1;
                let frame = Message::text(format!(
                    r#"{{"type":"message","message":{{"room":{},"seq":{},"text":{}}}}}"#,
                    serde_json::to_string(&room)?,
                    state.seq,
                    serde_json::to_string(&text)?
                ));
                for (_, member) in &state.members {
                    let _ = member.send(frame.clone());
                }
            }
            Ok(ClientFrame::Ping) => {
                let _ = tx.send(Message::text(r#"{"type":"pong"}"#));
            }
            _ => {}
        }
    }
    {
        let mut all = rooms.lock();
        for room in joined {
            if let Some(state) = all.get_mut(&room) {
                state.members.retain(|(member, _)| *member != id);
            }
        }
    }
    drop(tx);
    writer.abort();
    Ok(())
}
