//! Reconnect storm: users spread over rooms while messages flow; the server restarts
//! (SIGTERM, then a new process on the same database) and every client comes back at
//! once with its `session` and, per room, `since` = the last seq it saw. Measures how
//! long until every client has rejoined and recovered, the server's CPU for that, and
//! the latency of the messages delivered live meanwhile; then checks that every client
//! holds every message of its room since it first joined, once.

use crate::process::{self, ServerProcess};
use crate::stats::{Percentiles, ms};
use crate::wire;
use anyhow::Context;
use chat_protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Clone, Debug)]
pub struct ReconnectArgs {
    #[arg(long, default_value = "target/release/chat-server")]
    pub server: String,
    #[arg(long)]
    pub server_cpu: Option<usize>,
    #[arg(long, default_value_t = 5000)]
    pub users: usize,
    /// Rooms they spread over (user i joins room i mod rooms); at most 200 (the
    /// publisher is in all of them).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Messages per second over all rooms, before, during and after the storm.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Connections being opened at once (a herd of clients, each with its own backoff,
    /// arrives about this wide).
    #[arg(long, default_value_t = 500)]
    pub parallel: usize,
}

pub struct ReconnectResult {
    pub args: ReconnectArgs,
    /// From the new server listening until the last client's `joined`.
    pub all_rejoined: Duration,
    /// The new server's CPU over that time.
    pub server_cpu: Duration,
    /// The load generator's own CPU over that time (near `all_rejoined`: it, not the
    /// server, was the limit).
    pub bench_cpu: Duration,
    /// Latency of the messages sent during the storm, as the clients got them live.
    pub storm_latency: Percentiles,
    pub storm_messages: usize,
    /// Seqs a client lacks between its first and the room's last (should be 0).
    pub missing: u64,
    /// Seqs a client got twice (should be 0).
    pub duplicated: u64,
    /// Clients whose rejoin said `recovered: false` (more was missed than a rejoin gives).
    pub unrecovered: usize,
    /// The new server's commits until every client was back, and how many of them took
    /// over 51.2 ms (its `chat_store_commit_seconds` histogram): what the messages'
    /// latency during a storm is mostly made of.
    pub commits: Option<u64>,
    pub slow_commits: Option<u64>,
}

/// What one client saw: every seq of its room (history and live), and the latencies of
/// live messages with when they were sent.
#[derive(Default)]
struct Seen {
    seqs: Vec<u64>,
    live: Vec<(u64, Duration)>,
    unrecovered: bool,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub async fn run(args: ReconnectArgs) -> anyhow::Result<ReconnectResult> {
    anyhow::ensure!(
        (1..=200).contains(&args.rooms),
        "--rooms must be 1-200: the publisher joins them all"
    );
    let database =
        std::env::temp_dir().join(format!("chat-bench-reconnect-{}.db", std::process::id()));
    let url = format!("sqlite://{}", database.display());
    let result = storm(&args, &url).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut path = database.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn storm(args: &ReconnectArgs, url: &str) -> anyhow::Result<ReconnectResult> {
    let mut server = ServerProcess::start_on(&args.server, args.server_cpu, Some(url), &[])?;
    let (addr_tx, addr_rx) = watch::channel(server.addr.clone());
    let rejoined = Arc::new(AtomicUsize::new(0));
    let connects = Arc::new(Semaphore::new(args.parallel.max(1)));
    let mut clients = Vec::with_capacity(args.users);
    let mut seen = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let record = Arc::new(Mutex::new(Seen::default()));
        seen.push(record.clone());
        let client = Client {
            name: format!("rc{i}"),
            room: format!("rc-{}", i % args.rooms),
            addr: addr_rx.clone(),
            connects: connects.clone(),
            joined: rejoined.clone(),
            seen: record,
        };
        clients.push(tokio::spawn(client.run()));
    }
    wait_for(
        &rejoined,
        args.users,
        Duration::from_secs(120),
        "first joins",
    )
    .await?;

    let stop_publishing = Arc::new(tokio::sync::Notify::new());
    let heads = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    // The publisher comes back first (and joins its rooms again) so that the storm's
    // latency is the server's own, not the wait behind the publisher's hundred joins.
    let (publisher_addr_tx, publisher_addr_rx) = watch::channel(server.addr.clone());
    let publisher_joined = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn(publish(
        publisher_addr_rx,
        publisher_joined.clone(),
        args.rooms,
        args.rate,
        stop_publishing.clone(),
        heads.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The restart: a graceful stop, then a new process on the same database.
    rejoined.store(0, Ordering::SeqCst);
    publisher_joined.store(0, Ordering::SeqCst);
    server.terminate().await?;
    let server = ServerProcess::start_on(&args.server, args.server_cpu, Some(url), &[])?;
    publisher_addr_tx.send(server.addr.clone())?;
    wait_for(
        &publisher_joined,
        args.rooms,
        Duration::from_secs(30),
        "publisher's joins",
    )
    .await?;
    let cpu_before = process::usage(server.pid())?.cpu;
    let bench_before = process::usage(std::process::id())?.cpu;
    let restarted = Instant::now();
    let storm_from_us = now_us();
    addr_tx.send(server.addr.clone())?;
    wait_for(&rejoined, args.users, Duration::from_secs(120), "rejoins").await?;
    let all_rejoined = restarted.elapsed();
    let storm_until_us = now_us();
    let server_cpu = process::usage(server.pid())?.cpu.saturating_sub(cpu_before);
    let commits_under = |le: &'static str| {
        let name = format!("chat_store_commit_seconds_bucket{{le=\"{le}\"}}");
        let addr = server.addr.clone();
        async move { crate::observe::metric(&addr, &name).await }
    };
    let commits = commits_under("+Inf").await;
    let slow_commits = commits
        .zip(commits_under("0.0512").await)
        .map(|(all, fast)| all.saturating_sub(fast));
    let bench_cpu = process::usage(std::process::id())?
        .cpu
        .saturating_sub(bench_before);

    // Some calm after the storm, then the last messages must reach everyone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_publishing.notify_one();
    publisher.await.context("publisher")??;
    let heads = heads.lock().await.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut behind = 0;
        for (i, record) in seen.iter().enumerate() {
            let head = heads
                .get(&format!("rc-{}", i % args.rooms))
                .copied()
                .unwrap_or(0);
            if record.lock().await.seqs.iter().max().copied().unwrap_or(0) < head {
                behind += 1;
            }
        }
        if behind == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{behind} clients never got their room's last message"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for client in &clients {
        client.abort();
    }

    let (mut missing, mut duplicated, mut unrecovered) = (0, 0, 0);
    let mut latencies = Vec::new();
    for record in &seen {
        let record = record.lock().await;
        let mut seqs = record.seqs.clone();
        seqs.sort_unstable();
        let before = seqs.len();
        seqs.dedup();
        duplicated += (before - seqs.len()) as u64;
        if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
            missing += (last - first + 1) - seqs.len() as u64;
        }
        unrecovered += usize::from(record.unrecovered);
        latencies.extend(
            record
                .live
                .iter()
                .filter(|(sent, _)| (storm_from_us..=storm_until_us).contains(sent))
                .map(|(_, latency)| *latency),
        );
    }
    Ok(ReconnectResult {
        args: args.clone(),
        all_rejoined,
        server_cpu,
        bench_cpu,
        storm_messages: latencies.len(),
        storm_latency: Percentiles::new(latencies),
        missing,
        duplicated,
        unrecovered,
        commits,
        slow_commits,
    })
}

async fn wait_for(
    count: &AtomicUsize,
    target: usize,
    limit: Duration,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::SeqCst) < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: {} of {target} within {limit:?}",
            count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// One simulated user: connects (again with its session), joins its room with `since`
/// after a drop, records what it sees, and reconnects when the server goes away.
struct Client {
    name: String,
    room: String,
    addr: watch::Receiver<String>,
    connects: Arc<Semaphore>,
    joined: Arc<AtomicUsize>,
    seen: Arc<Mutex<Seen>>,
}

impl Client {
    async fn run(mut self) -> anyhow::Result<()> {
        let mut session: Option<String> = None;
        loop {
            let addr = self.addr.borrow_and_update().clone();
            let permit = self.connects.clone().acquire_owned().await?;
            let query = match &session {
                Some(session) => format!("session={session}"),
                None => format!("name={}", self.name),
            };
            let url = format!("ws://{addr}/ws?{query}");
            let connected = tokio_tungstenite::connect_async_with_config(
                url,
                Some(crate::clients::config()),
                true,
            )
            .await;
            let Ok((mut ws, _)) = connected else {
                drop(permit);
                // The server is not back yet (or refused): wait for news, or retry soon.
                let _ = tokio::time::timeout(Duration::from_millis(50), self.addr.changed()).await;
                continue;
            };
            let since = self.seen.lock().await.seqs.iter().max().copied();
            let join = serde_json::to_string(&ClientFrame::Join {
                room: self.room.clone(),
                since,
            })?;
            if ws.send(Message::text(join)).await.is_err() {
                continue;
            }
            let mut permit = Some(permit);
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if let Some((sent_us, _, _)) = wire::probe_of(&text) {
                    let latency = Duration::from_micros(now_us().saturating_sub(sent_us));
                    if let Ok(ServerFrame::Message { message, .. }) = serde_json::from_str(&text) {
                        let mut seen = self.seen.lock().await;
                        seen.seqs.push(message.seq);
                        seen.live.push((sent_us, latency));
                    }
                    continue;
                }
                match serde_json::from_str::<ServerFrame>(&text) {
                    Ok(ServerFrame::Welcome { session: s, .. }) => session = Some(s),
                    Ok(ServerFrame::Joined {
                        history, recovered, ..
                    }) => {
                        {
                            let mut seen = self.seen.lock().await;
                            seen.seqs.extend(history.iter().map(|m| m.seq));
                            seen.unrecovered |= since.is_some() && recovered != Some(true);
                        }
                        permit.take();
                        self.joined.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
            drop(permit);
            // Gone: wait until the server is back at its (new) address.
            let _ = self.addr.changed().await;
        }
    }
}

/// Sends probe messages at `rate` over every room in turn until told to stop, and
/// notes each room's newest seq from its own copies. Reconnects (and joins every room
/// again, counting its `joined` frames in `joined`) when the server goes away.
async fn publish(
    mut addr: watch::Receiver<String>,
    joined: Arc<AtomicUsize>,
    rooms: usize,
    rate: f64,
    stop: Arc<tokio::sync::Notify>,
    heads: Arc<Mutex<HashMap<String, u64>>>,
) -> anyhow::Result<()> {
    let every = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut n: u64 = 0;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let url = format!(
            "ws://{}/ws?name=publisher",
            addr.borrow_and_update().clone()
        );
        let Ok((ws, _)) =
            tokio_tungstenite::connect_async_with_config(url, Some(crate::clients::config()), true)
                .await
        else {
            let _ = tokio::time::timeout(Duration::from_millis(50), addr.changed()).await;
            continue;
        };
        let (mut sink, mut stream) = ws.split();
        for r in 0..rooms {
            sink.send(Message::text(wire::join_frame(&format!("rc-{r}"))))
                .await?;
        }
        let heads_reader = heads.clone();
        let joined = joined.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                if wire::is_joined(&text) {
                    joined.fetch_add(1, Ordering::SeqCst);
                }
                if wire::probe_of(&text).is_some()
                    && let Ok(ServerFrame::Message { message, .. }) = serde_json::from_str(&text)
                {
                    let mut heads = heads_reader.lock().await;
                    let head = heads.entry(message.room).or_default();
                    *head = (*head).max(message.seq);
                }
            }
        });
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = &mut stopped => {
                    // Let the last copies come back before the heads are read.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    reader.abort();
                    return Ok(());
                }
                _ = tick.tick() => {}
            }
            n += 1;
            let room = format!("rc-{}", n as usize % rooms);
            let text = wire::probe_text(now_us(), 0, n, 64);
            if sink
                .send(Message::text(wire::send_frame(&room, text)))
                .await
                .is_err()
                || reader.is_finished()
            {
                break;
            }
        }
        reader.abort();
        let _ = addr.changed().await;
    }
}

pub const RECONNECT_HEADER: &str = "| scenario | users x rooms | msg/s | all rejoined s | server CPU s | µs per rejoin | load gen CPU s | storm messages | p50 ms | p99 ms | max ms | commits over 50 ms | unrecovered | missing | dup |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

pub fn reconnect_row(name: &str, r: &ReconnectResult) -> String {
    format!(
        "| {name} | {} x {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.args.users,
        r.args.rooms,
        r.args.rate,
        r.all_rejoined.as_secs_f64(),
        r.server_cpu.as_secs_f64(),
        r.server_cpu.as_secs_f64() * 1e6 / r.args.users.max(1) as f64,
        r.bench_cpu.as_secs_f64(),
        r.storm_messages,
        ms(r.storm_latency.at(50.0)),
        ms(r.storm_latency.at(99.0)),
        ms(r.storm_latency.at(100.0)),
        match (r.slow_commits, r.commits) {
            (Some(slow), Some(all)) => format!("{slow} of {all}"),
            _ => "-".to_owned(),
        },
        r.unrecovered,
        r.missing,
        r.duplicated,
    )
}
