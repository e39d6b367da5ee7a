//! Fan-out scenarios: rooms of receiving clients, some of which publish at a fixed total
//! rate, optionally plus clients that never read. Measures deliveries, end-to-end latency,
//! lost and duplicated messages, and the server's CPU and memory.

use crate::clients::{self, Socket};
use crate::process::{self, ServerProcess};
use crate::wire;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Clone, Debug)]
pub struct FanoutArgs {
    /// Server binary to start (pinned with --server-cpu); ignored with --addr.
    #[arg(long, default_value = "target/release/chat-server")]
    pub server: String,
    /// CPU to pin the started server to.
    #[arg(long)]
    pub server_cpu: Option<usize>,
    /// Use an already running server at HOST:PORT instead (give --server-pid to measure it).
    #[arg(long)]
    pub addr: Option<String>,
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Receiving clients per room (publishers included).
    #[arg(long, default_value_t = 1000)]
    pub clients_per_room: usize,
    #[arg(long, default_value_t = 10)]
    pub publishers_per_room: usize,
    /// Messages per second, all publishers together.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// How long the publishers publish.
    #[arg(long, default_value = "10s", value_parser = humantime_secs)]
    pub duration: Duration,
    /// Characters per message text.
    #[arg(long, default_value_t = 100)]
    pub text_len: usize,
    /// Clients per room that join and then never read.
    #[arg(long, default_value_t = 0)]
    pub silent_per_room: usize,
    /// Nodes already running (address, pid) that the clients are spread over in turn,
    /// instead of one server (the cluster scenario starts them).
    #[arg(skip)]
    pub nodes: Vec<(String, u32)>,
    /// Redis the nodes use, to count its commands while the publishers publish.
    #[arg(skip)]
    pub redis: Option<String>,
    /// Start the minimal broadcast server (`chat-bench reference-server`) instead of
    /// `--server`: the reference to read the chat server's figures against.
    #[arg(long)]
    pub reference: bool,
}

fn humantime_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim_end_matches('s')
        .parse()
        .map_err(|e| format!("{e}"))?;
    Ok(Duration::from_secs_f64(secs))
}

/// What one run measured.
pub struct FanoutResult {
    pub args: FanoutArgs,
    pub deliveries: u64,
    pub expected: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub latency_us: Histogram<u64>,
    /// How long the publishers published (the drain afterwards not included).
    pub seconds: f64,
    pub server_cpu: Option<Duration>,
    /// Each node's part of `server_cpu`, when there are several.
    pub node_cpu: Vec<Duration>,
    pub server_rss_peak: Option<u64>,
    /// CPU the load generator itself used while publishing.
    pub bench_cpu: Duration,
    pub silent_ends: Vec<SilentEnd>,
    /// Commands Redis processed while the publishers published (with `redis`), and how
    /// many of them the nodes sent (`chat_redis_commands_total`; the rest ran inside
    /// their scripts, or came from elsewhere).
    pub redis_commands: Option<u64>,
    pub node_redis_commands: Option<u64>,
    /// The server's own count of connections closed with 1013 (from `/metrics`).
    pub slow_consumer_closes: Option<u64>,
}

/// How a client that never read was found at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilentEnd {
    /// The server closed it with this code.
    Closed(u16),
    /// The server dropped the connection without a close frame reaching it (the frame
    /// waited behind unread data longer than the server's close grace).
    Dropped,
    /// Still connected.
    Open,
}

impl FanoutResult {
    /// Fraction of one core the server used while publishing.
    pub fn server_load(&self) -> Option<f64> {
        self.server_cpu
            .map(|cpu| cpu.as_secs_f64() / self.seconds.max(f64::EPSILON))
    }

    /// Fraction of one core the load generator used while publishing.
    pub fn bench_load(&self) -> f64 {
        self.bench_cpu.as_secs_f64() / self.seconds.max(f64::EPSILON)
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.99) as f64 / 1000.0
    }

    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        self.server_cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / self.deliveries.max(1) as f64)
    }
}

/// What one receiving client counted.
struct Tally {
    deliveries: u64,
    lost: u64,
    duplicated: u64,
    latency_us: Histogram<u64>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 100 s at 3 significant digits; the bounds are valid constants.
    Histogram::new_with_bounds(1, 100_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Runs one fan-out scenario and returns its measurements.
pub async fn run(args: FanoutArgs) -> anyhow::Result<FanoutResult> {
    let (_server, addr, pid) = match (&args.addr, args.nodes.first()) {
        (_, Some((addr, pid))) => (None, addr.clone(), Some(*pid)),
        (Some(addr), None) => (None, addr.clone(), args.server_pid),
        (None, None) => {
            let server = if args.reference {
                ServerProcess::start_reference(args.server_cpu)?
            } else {
                ServerProcess::start(&args.server, args.server_cpu, &[])?
            };
            let (addr, pid) = (server.addr.clone(), server.pid());
            (Some(server), addr, Some(pid))
        }
    };
    // Client `c` of a room connects to node `c % nodes` (one node: the server).
    let addrs: Vec<String> = if args.nodes.is_empty() {
        vec![addr.clone()]
    } else {
        args.nodes.iter().map(|(addr, _)| addr.clone()).collect()
    };
    let pids: Vec<u32> = if args.nodes.is_empty() {
        pid.into_iter().collect()
    } else {
        args.nodes.iter().map(|(_, pid)| *pid).collect()
    };
    let start = Instant::now();
    let publishers_total = args.rooms * args.publishers_per_room;
    let published: Arc<Vec<AtomicU64>> =
        Arc::new((0..publishers_total).map(|_| AtomicU64::new(0)).collect());
    let (stop_tx, stop_rx) = watch::channel(false);

    // Connect everyone; each client starts reading as soon as it has joined, so the
    // `system` join notices of the others never pile up.
    let permits = Arc::new(Semaphore::new(64));
    let mut receivers = Vec::new();
    let mut sinks = Vec::new();
    for room in 0..args.rooms {
        let mut connecting = Vec::new();
        for c in 0..args.clients_per_room {
            let permit = permits.clone().acquire_owned().await?;
            let addr = addrs[c % addrs.len()].clone();
            let stop = stop_rx.clone();
            let start_at = start;
            let room_publishers: Vec<usize> =
                (room * args.publishers_per_room..(room + 1) * args.publishers_per_room).collect();
            connecting.push(tokio::spawn(async move {
                let ws = clients::connect_and_join(
                    &addr,
                    &format!("r{room}c{c}"),
                    &format!("bench-{room}"),
                    false,
                )
                .await;
                drop(permit);
                let (sink, stream) = ws?.split();
                let reader = tokio::spawn(receive(stream, stop, start_at, room_publishers));
                anyhow::Ok((sink, reader))
            }));
        }
        for task in connecting {
            let (sink, reader) = task.await??;
            sinks.push((room, sink));
            receivers.push(reader);
        }
    }
    let mut silent: Vec<Socket> = Vec::new();
    for room in 0..args.rooms {
        for s in 0..args.silent_per_room {
            silent.push(
                clients::connect_and_join(
                    &addr,
                    &format!("r{room}silent{s}"),
                    &format!("bench-{room}"),
                    true,
                )
                .await?,
            );
        }
    }
    // Let the join notices settle before measuring: n clients joining one room cause
    // n(n-1)/2 of them (12.5 million for 5000), which takes the server seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for pid in &pids {
        process::wait_until_quiet(*pid, Duration::from_secs(120)).await?;
    }

    let before = pids
        .iter()
        .map(|pid| process::usage(*pid))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bench_before = process::usage(std::process::id())?.cpu;
    let redis_before = redis_counts(&args, &addrs).await?;
    let publishing = Instant::now();
    let mut publishers = Vec::new();
    // The first `publishers_per_room` clients of each room publish to it.
    let mut by_room: Vec<Vec<_>> = (0..args.rooms).map(|_| Vec::new()).collect();
    for (room, sink) in sinks {
        if by_room[room].len() < args.publishers_per_room {
            by_room[room].push(sink);
        }
    }
    for (room, room_sinks) in by_room.into_iter().enumerate() {
        for (p, sink) in room_sinks.into_iter().enumerate() {
            let index = room * args.publishers_per_room + p;
            let interval = Duration::from_secs_f64(publishers_total as f64 / args.rate);
            // Spread the publishers evenly over the interval: the offered load is a
            // steady rate, not bursts of every publisher at once.
            let offset = interval.mul_f64(index as f64 / publishers_total as f64);
            let schedule = Schedule {
                first: tokio::time::Instant::now() + offset,
                interval,
                until: Instant::now() + offset + args.duration,
            };
            publishers.push(tokio::spawn(publish(
                sink,
                format!("bench-{room}"),
                index,
                schedule,
                args.text_len,
                start,
                published.clone(),
            )));
        }
    }
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = pid.map(|pid| tokio::spawn(sample_rss(pid, peak_rss.clone(), stop_rx.clone())));
    for publisher in publishers {
        publisher.await??;
    }
    let publishing_seconds = publishing.elapsed().as_secs_f64();
    // Deliveries still in flight get a moment to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = pids
        .iter()
        .map(|pid| process::usage(*pid))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let node_cpu: Vec<Duration> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.cpu.saturating_sub(b.cpu))
        .collect();
    let bench_cpu = process::usage(std::process::id())?
        .cpu
        .saturating_sub(bench_before);
    let redis_after = redis_counts(&args, &addrs).await?;
    let (redis_commands, node_redis_commands) = match (redis_before, redis_after) {
        (Some((redis_b, nodes_b)), Some((redis_a, nodes_a))) => (
            Some(redis_a.saturating_sub(redis_b)),
            Some(nodes_a.saturating_sub(nodes_b)),
        ),
        _ => (None, None),
    };
    let seconds = publishing_seconds;
    let _ = stop_tx.send(true);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }

    let total_published: u64 = published.iter().map(|p| p.load(Ordering::SeqCst)).sum();
    let mut result = FanoutResult {
        args: args.clone(),
        deliveries: 0,
        expected: total_published * args.clients_per_room as u64,
        lost: 0,
        duplicated: 0,
        latency_us: new_histogram(),
        seconds,
        server_cpu: (!node_cpu.is_empty()).then(|| node_cpu.iter().sum()),
        node_cpu,
        server_rss_peak: pid.map(|_| peak_rss.load(Ordering::SeqCst)),
        bench_cpu,
        silent_ends: Vec::new(),
        redis_commands,
        node_redis_commands,
        slow_consumer_closes: None,
    };
    for receiver in receivers {
        let tally = receiver.await?;
        result.deliveries += tally.deliveries;
        result.duplicated += tally.duplicated;
        result.lost += tally.lost;
        let _ = result.latency_us.add(&tally.latency_us);
    }
    // Lost also counts what never arrived at the end of each publisher's stream.
    result.lost = result
        .expected
        .saturating_sub(result.deliveries - result.duplicated)
        .max(result.lost);
    for socket in silent {
        result.silent_ends.push(silent_end(socket).await);
    }
    if !args.reference {
        result.slow_consumer_closes = slow_consumer_closes(&addr).await;
    }
    Ok(result)
}

/// When a publisher sends: from `first`, every `interval`, until `until`.
struct Schedule {
    first: tokio::time::Instant,
    interval: Duration,
    until: Instant,
}

async fn publish(
    mut sink: SplitSink<Socket, Message>,
    room: String,
    index: usize,
    schedule: Schedule,
    text_len: usize,
    start: Instant,
    published: Arc<Vec<AtomicU64>>,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval_at(schedule.first, schedule.interval);
    // A late tick is sent at once, so the offered rate holds even if the load
    // generator stalls for a moment.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = schedule.until;
    let mut n = 0u64;
    while Instant::now() < until {
        ticker.tick().await;
        n += 1;
        let sent_us = start.elapsed().as_micros() as u64;
        let text = wire::probe_text(sent_us, index as u32, n, text_len);
        sink.send(Message::text(wire::send_frame(&room, text)))
            .await?;
        published[index].store(n, Ordering::SeqCst);
    }
    Ok(())
}

async fn receive(
    mut stream: SplitStream<Socket>,
    mut stop: watch::Receiver<bool>,
    start: Instant,
    room_publishers: Vec<usize>,
) -> Tally {
    let first = room_publishers.first().copied().unwrap_or(0);
    let mut last_seen = vec![0u64; room_publishers.len()];
    let mut tally = Tally {
        deliveries: 0,
        lost: 0,
        duplicated: 0,
        latency_us: new_histogram(),
    };
    // One future for the whole run: re-creating it per frame would take a lock per frame.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        let message = tokio::select! {
            biased;
            message = stream.next() => message,
            _ = &mut stopped => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => break,
        };
        let Some((sent_us, publisher, n)) = wire::probe_of(&text) else {
            continue;
        };
        let now_us = start.elapsed().as_micros() as u64;
        tally.deliveries += 1;
        let _ = tally
            .latency_us
            .record(now_us.saturating_sub(sent_us).max(1));
        let Some(last) = (publisher as usize)
            .checked_sub(first)
            .and_then(|i| last_seen.get_mut(i))
        else {
            continue;
        };
        if n > *last {
            tally.lost += n - *last - 1;
            *last = n;
        } else {
            tally.duplicated += 1;
        }
    }
    tally
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Ok(usage) = process::usage(pid) {
                    peak.fetch_max(usage.rss_bytes, Ordering::SeqCst);
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Reads a silent client's backlog to find how the server ended it, if it did.
async fn silent_end(mut socket: Socket) -> SilentEnd {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return SilentEnd::Closed(frame.code.into());
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return SilentEnd::Dropped,
            Err(_) => return SilentEnd::Open,
        }
    }
}

/// Reads `chat_slow_consumer_closes_total` from the server's `/metrics`.
async fn slow_consumer_closes(addr: &str) -> Option<u64> {
    crate::observe::metric(addr, "chat_slow_consumer_closes_total").await
}

/// Redis' count of commands and the nodes' own, when the run has a Redis.
async fn redis_counts(args: &FanoutArgs, addrs: &[String]) -> anyhow::Result<Option<(u64, u64)>> {
    let Some(redis) = &args.redis else {
        return Ok(None);
    };
    let processed = crate::observe::redis_commands(redis).await?;
    let mut sent = 0;
    for addr in addrs {
        sent += crate::observe::metric(addr, "chat_redis_commands_total")
            .await
            .unwrap_or(0);
    }
    Ok(Some((processed, sent)))
}
