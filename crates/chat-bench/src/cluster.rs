//! One room spread over several nodes against the same room on one node, in one run:
//! what Redis costs per delivery, per node, and in Redis commands per message.
//!
//! Each configuration gets a fresh PostgreSQL schema (both store history there, so the
//! only difference is the cluster), and the nodes a fresh Redis namespace. Clients are
//! spread over the nodes in turn, so most deliveries of a message cross Redis.

use crate::fanout::{self, FanoutArgs, FanoutResult};
use crate::process::ServerProcess;
use anyhow::Context;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    #[arg(long, default_value = "target/release/chat-server")]
    server: String,
    /// PostgreSQL the nodes share (a fresh schema per configuration).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// How many nodes the spread configuration has.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// Messages per second, all publishers together.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    #[arg(long, default_value = "10", value_parser = |s: &str| s.trim_end_matches('s').parse::<u64>().map(Duration::from_secs))]
    duration: Duration,
}

pub const HEADER: &str = "| configuration | clients | msg/s offered | deliveries/s | p50 ms | p99 ms | lost | dup | server CPU µs/delivery (all nodes) | core % per node | Redis commands per message (Redis' count) | of which the nodes' own (`chat_redis_commands_total`) |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    println!("{HEADER}");
    let one = measure(&args, 1, false).await?;
    println!("{}", row("1 node (PostgreSQL)", &one));
    let spread = measure(&args, args.nodes, true).await?;
    println!(
        "{}",
        row(
            &format!("{} nodes (PostgreSQL + Redis)", args.nodes),
            &spread
        )
    );
    Ok(())
}

struct Measured {
    result: FanoutResult,
    /// Commands Redis processed during the run, per message published.
    redis_per_message: Option<f64>,
    nodes_per_message: Option<f64>,
}

fn row(name: &str, m: &Measured) -> String {
    let r = &m.result;
    let ms = |q: f64| format!("{:.2}", r.latency_us.value_at_quantile(q) as f64 / 1000.0);
    let per_node = r
        .node_cpu
        .iter()
        .map(|cpu| {
            format!(
                "{:.0}",
                cpu.as_secs_f64() * 100.0 / r.seconds.max(f64::EPSILON)
            )
        })
        .collect::<Vec<_>>()
        .join(" / ");
    let or_dash = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    format!(
        "| {name} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {per_node} | {} | {} |",
        r.args.clients_per_room,
        r.args.rate,
        r.deliveries as f64 / r.seconds.max(f64::EPSILON),
        ms(0.5),
        ms(0.99),
        r.lost,
        r.duplicated,
        r.cpu_us_per_delivery()
            .map_or("-".to_owned(), |us| format!("{us:.2}")),
        or_dash(m.redis_per_message),
        or_dash(m.nodes_per_message),
    )
}

async fn measure(args: &ClusterArgs, nodes: usize, with_redis: bool) -> anyhow::Result<Measured> {
    let database = fresh_schema(&args.database).await?;
    let namespace = format!("bench{}", std::process::id());
    let mut extra = Vec::new();
    if with_redis {
        extra.extend([
            "--redis-url".to_owned(),
            args.redis.clone(),
            "--redis-namespace".to_owned(),
            format!("{namespace}n{nodes}"),
        ]);
    }
    let servers = (0..nodes)
        .map(|_| ServerProcess::start_on(&args.server, None, Some(&database), &extra))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fanout_args = FanoutArgs {
        server: args.server.clone(),
        server_cpu: None,
        addr: None,
        server_pid: None,
        rooms: 1,
        clients_per_room: args.clients,
        publishers_per_room: args.publishers,
        rate: args.rate,
        duration: args.duration,
        text_len: 100,
        silent_per_room: 0,
        nodes: servers.iter().map(|s| (s.addr.clone(), s.pid())).collect(),
        redis: with_redis.then(|| args.redis.clone()),
        reference: false,
    };
    let result = fanout::run(fanout_args).await?;
    // Each publisher's count of messages, from the deliveries expected of them.
    let messages = (result.expected / args.clients.max(1) as u64).max(1) as f64;
    let per_message = |n: Option<u64>| n.map(|n| n as f64 / messages);
    let redis_per_message = per_message(result.redis_commands);
    let nodes_per_message = per_message(result.node_redis_commands);
    drop(servers);
    Ok(Measured {
        result,
        redis_per_message,
        nodes_per_message,
    })
}

/// A new schema in the database, as a URL that uses it.
async fn fresh_schema(base: &str) -> anyhow::Result<String> {
    let pool = sqlx::PgPool::connect(base)
        .await
        .with_context(|| format!("connecting to {base}"))?;
    let schema = format!("chat_bench_{}_{}", std::process::id(), rand_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await?;
    pool.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
