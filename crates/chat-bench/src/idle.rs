//! Idle connections: how much server memory one connected, joined, quiet client costs.

use crate::clients;
use crate::process::{self, ServerProcess};
use futures_util::StreamExt;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct IdleArgs {
    #[arg(long, default_value = "target/release/chat-server")]
    pub server: String,
    #[arg(long)]
    pub server_cpu: Option<usize>,
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Measure the minimal broadcast server (`chat-bench reference-server`) instead.
    #[arg(long)]
    pub reference: bool,
    /// Use an already running server at HOST:PORT (with its PID) instead of starting
    /// one: under a heap profiler, say.
    #[arg(long, requires = "server_pid")]
    pub addr: Option<String>,
    #[arg(long)]
    pub server_pid: Option<u32>,
}

pub struct IdleResult {
    pub args: IdleArgs,
    pub rss_before: u64,
    pub rss_after: u64,
}

impl IdleResult {
    pub fn bytes_per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.args.connections.max(1) as f64
    }
}

pub async fn run(args: IdleArgs) -> anyhow::Result<IdleResult> {
    let started = match (&args.addr, args.server_pid) {
        (Some(_), Some(_)) => None,
        _ if args.reference => Some(ServerProcess::start_reference(args.server_cpu)?),
        _ => Some(ServerProcess::start(&args.server, args.server_cpu, &[])?),
    };
    let (addr, pid) = match (&started, &args.addr, args.server_pid) {
        (Some(server), _, _) => (server.addr.clone(), server.pid()),
        (None, Some(addr), Some(pid)) => (addr.clone(), pid),
        _ => anyhow::bail!("--addr needs --server-pid"),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = process::usage(pid)?.rss_bytes;
    let rooms = args.rooms.max(1);
    let sockets = clients::open_many(
        &addr,
        args.connections,
        |i| format!("idle{i}"),
        |i| format!("idle-{}", i % rooms),
    )
    .await?;
    // Drain the join notices and answer pings, as idle browser tabs do.
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            tokio::spawn(async move {
                let (_sink, mut stream) = socket.split();
                while let Some(Ok(_)) = stream.next().await {}
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = process::usage(pid)?.rss_bytes;
    for reader in &readers {
        reader.abort();
    }
    Ok(IdleResult {
        args,
        rss_before,
        rss_after,
    })
}
