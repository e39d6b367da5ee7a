//! Join storms: many users connecting and joining at once (a popular room, or every
//! client coming back after a deploy). Measures the server's CPU for the whole join
//! phase and the frames each client receives meanwhile; the reference, in the same run,
//! is the same binary with big rooms turned off (`--big-room-threshold` above the room's
//! size: one `system` frame per arrival to everyone, n²/2 frames in all).

use crate::process::{self, ServerProcess};
use crate::wire;
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Clone, Debug)]
pub struct StormArgs {
    #[arg(long, default_value = "target/release/chat-server")]
    pub server: String,
    #[arg(long)]
    pub server_cpu: Option<usize>,
    /// Users that connect and join.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Rooms they spread over (user i joins room i mod rooms).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    pub parallel: usize,
    /// `--big-room-threshold` for the server (absent: its default).
    #[arg(long)]
    pub big_room_threshold: Option<usize>,
}

pub struct StormResult {
    pub args: StormArgs,
    /// Server CPU from the first connect until it was quiet again.
    pub server_cpu: Duration,
    /// From the first connect until the last `joined`.
    pub wall: Duration,
    /// Frames all clients received until the server was quiet, their `joined` included.
    pub frames: u64,
}

impl StormResult {
    pub fn frames_per_client(&self) -> f64 {
        self.frames as f64 / self.args.users.max(1) as f64
    }
}

pub async fn run(args: StormArgs) -> anyhow::Result<StormResult> {
    let extra: Vec<String> = args
        .big_room_threshold
        .map(|t| vec!["--big-room-threshold".to_owned(), t.to_string()])
        .unwrap_or_default();
    let server = ServerProcess::start(&args.server, args.server_cpu, &extra)?;
    process::wait_until_quiet(server.pid(), Duration::from_secs(5)).await?;
    let frames = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(args.parallel.max(1)));
    let before = process::usage(server.pid())?.cpu;
    let started = Instant::now();
    let mut joins = Vec::with_capacity(args.users);
    let mut readers = Vec::with_capacity(args.users);
    let rooms = args.rooms.max(1);
    for i in 0..args.users {
        let permit = permits.clone().acquire_owned().await?;
        let (addr, frames) = (server.addr.clone(), frames.clone());
        let (joined_tx, joined_rx) = tokio::sync::oneshot::channel();
        joins.push(joined_rx);
        readers.push(tokio::spawn(async move {
            let name = format!("storm{i}");
            let room = format!("storm-{}", i % rooms);
            let connected = connect(&addr, &name).await;
            let Ok(mut ws) = connected else {
                drop(permit);
                let _ = joined_tx.send(connected.map(|_| ()));
                return;
            };
            let sent = ws.send(Message::text(wire::join_frame(&room))).await;
            let mut joined_tx = Some(joined_tx);
            if let Err(err) = sent {
                let _ = joined_tx.take().map(|tx| tx.send(Err(err.into())));
                return;
            }
            let mut permit = Some(permit);
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    frames.fetch_add(1, Ordering::Relaxed);
                    if joined_tx.is_some() && wire::is_joined(&text) {
                        permit.take();
                        let _ = joined_tx.take().map(|tx| tx.send(Ok(())));
                    }
                }
            }
            let _ = joined_tx.map(|tx| tx.send(Err(anyhow::anyhow!("{name}: closed"))));
        }));
    }
    for joined in joins {
        joined.await.context("a client task ended")??;
    }
    let wall = started.elapsed();
    process::wait_until_quiet(server.pid(), Duration::from_secs(120)).await?;
    let server_cpu = process::usage(server.pid())?.cpu.saturating_sub(before);
    for reader in &readers {
        reader.abort();
    }
    Ok(StormResult {
        args,
        server_cpu,
        wall,
        frames: frames.load(Ordering::Relaxed),
    })
}

async fn connect(addr: &str, name: &str) -> anyhow::Result<crate::clients::Socket> {
    let url = format!("ws://{addr}/ws?name={name}");
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(crate::clients::config()), true)
            .await
            .with_context(|| format!("connecting {name}"))?;
    Ok(ws)
}

pub const STORM_HEADER: &str = "| scenario | users x rooms | connecting at once | big rooms | server CPU s | µs per join | wall s | frames per client |\n|---|---|---|---|---|---|---|---|";

pub fn storm_row(name: &str, r: &StormResult) -> String {
    let big = match r.args.big_room_threshold {
        Some(t) if t >= r.args.users => "off (reference)".to_owned(),
        Some(t) => format!("above {t}"),
        None => "above 100 (default)".to_owned(),
    };
    format!(
        "| {name} | {} x {} | {} | {big} | {:.2} | {:.0} | {:.2} | {:.1} |",
        r.args.users,
        r.args.rooms,
        r.args.parallel,
        r.server_cpu.as_secs_f64(),
        r.server_cpu.as_secs_f64() * 1e6 / r.args.users.max(1) as f64,
        r.wall.as_secs_f64(),
        r.frames_per_client(),
    )
}
