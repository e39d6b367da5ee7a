//! The storage benchmark: the server's own journal and store, without sockets, so the
//! figure is what the database path sustains.

use crate::stats::{Percentiles, ms};
use chat_protocol::User;
use chat_server::hub::Hub;
use chat_server::journal::{Append, Journal};
use chat_server::metrics::Metrics;
use chat_server::store;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::task::TaskTracker;

#[derive(clap::Args)]
pub struct StoreArgs {
    /// `sqlite` (a fresh file in the temp directory) or a `postgres://` URL (a fresh
    /// `chat_bench` schema in that database, dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Concurrent senders.
    #[arg(long, default_value_t = 100)]
    senders: usize,
    /// Messages each sender stores.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Rooms the senders are spread over.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Characters per message.
    #[arg(long, default_value_t = 100)]
    text_len: usize,
    /// Messages stored one at a time, each waited for, to measure commit latency.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let scratch = Scratch::create(&args.database).await?;
    let result = measure(&args, &scratch.url).await;
    scratch.remove().await;
    result
}

async fn measure(args: &StoreArgs, database_url: &str) -> anyhow::Result<()> {
    let store = store::open(database_url).await?;
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(metrics.clone(), 100));
    let background = TaskTracker::new();
    let journal = Journal::start(store.clone(), hub, metrics, Vec::new(), &background);
    let before = stored_total(store.as_ref()).await?;

    let text = "x".repeat(args.text_len);
    let started = Instant::now();
    let mut senders = Vec::new();
    for s in 0..args.senders {
        let journal = journal.clone();
        let text = text.clone();
        let room = format!("bench-{}", s % args.rooms.max(1));
        let user = User {
            id: format!("u_bench{s}"),
            name: format!("bench{s}"),
        };
        let messages = args.messages;
        senders.push(tokio::spawn(async move {
            for _ in 0..messages {
                let append = Append {
                    room: room.clone(),
                    from: user.clone(),
                    text: text.clone(),
                    sender: None,
                };
                journal.append(append).await?;
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    journal.flush().await?;
    let elapsed = started.elapsed();
    let stored = stored_total(store.as_ref()).await? - before;
    let expected = (args.senders * args.messages) as u64;
    anyhow::ensure!(
        stored == expected,
        "stored {stored} messages, expected {expected}"
    );

    let mut latencies = Vec::with_capacity(args.latency_samples);
    let user = User {
        id: "u_alone".into(),
        name: "alone".into(),
    };
    for _ in 0..args.latency_samples {
        let one = Instant::now();
        journal
            .append(Append {
                room: "bench-latency".into(),
                from: user.clone(),
                text: text.clone(),
                sender: None,
            })
            .await?;
        journal.flush().await?;
        latencies.push(one.elapsed());
    }
    let latency = Percentiles::new(latencies);
    let backend = database_url.split(':').next().unwrap_or("?");
    println!(
        "| backend | senders | rooms | messages | seconds | stored msg/s | lone commit p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {backend} | {} | {} | {expected} | {:.2} | {:.0} | {} | {} |",
        args.senders,
        args.rooms,
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        ms(latency.at(50.0)),
        ms(latency.at(99.0)),
    );
    Ok(())
}

async fn stored_total(store: &dyn store::Store) -> anyhow::Result<u64> {
    Ok(store.room_stats().await?.iter().map(|r| r.last_seq).sum())
}

/// A database made for one run and removed after it.
struct Scratch {
    url: String,
    postgres_base: Option<String>,
    sqlite_file: Option<std::path::PathBuf>,
}

const BENCH_SCHEMA: &str = "chat_bench";

impl Scratch {
    async fn create(database: &str) -> anyhow::Result<Scratch> {
        if database == "sqlite" {
            let file = std::env::temp_dir().join(format!("chat-bench-{}.db", std::process::id()));
            return Ok(Scratch {
                url: format!("sqlite://{}", file.display()),
                postgres_base: None,
                sqlite_file: Some(file),
            });
        }
        anyhow::ensure!(
            database.starts_with("postgres://") || database.starts_with("postgresql://"),
            "--database is `sqlite` or a postgres:// URL"
        );
        let pool = sqlx::PgPool::connect(database).await?;
        sqlx::query("DROP SCHEMA IF EXISTS chat_bench CASCADE")
            .execute(&pool)
            .await?;
        sqlx::query("CREATE SCHEMA chat_bench")
            .execute(&pool)
            .await?;
        pool.close().await;
        let separator = if database.contains('?') { '&' } else { '?' };
        Ok(Scratch {
            url: format!("{database}{separator}options=-c%20search_path%3D{BENCH_SCHEMA}"),
            postgres_base: Some(database.to_owned()),
            sqlite_file: None,
        })
    }

    async fn remove(self) {
        if let Some(file) = self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(base) = self.postgres_base
            && let Ok(pool) = sqlx::PgPool::connect(&base).await
        {
            let _ = sqlx::query("DROP SCHEMA IF EXISTS chat_bench CASCADE")
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}
