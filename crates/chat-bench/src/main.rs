//! `chat-bench`: measures the chat server. Each scenario prints Markdown table rows so
//! results can go straight into `BENCHMARKS.md`; `suite` runs the standard set.

mod clients;
mod cluster;
mod fanout;
mod idle;
mod observe;
mod process;
mod reconnect;
mod reference;
mod report;
mod startup;
mod stats;
mod store;
mod storm;
mod suite;
mod wire;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chat-bench", about = "Benchmarks for the chat server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Stored messages per second through the journal (group commit) into a database,
    /// with many concurrent senders; then one sender's commit latency.
    Store(store::StoreArgs),
    /// Rooms of clients over real sockets, publishers at a fixed total rate.
    Fanout(fanout::FanoutArgs),
    /// Many idle joined connections: server memory per connection.
    Idle(idle::IdleArgs),
    /// One room over several nodes (PostgreSQL + Redis) against one node, in one run.
    Cluster(cluster::ClusterArgs),
    /// Many users connecting and joining at once: server CPU for the join phase and
    /// frames per client, against the same binary without big rooms.
    Storm(storm::StormArgs),
    /// Every client coming back at once after a restart, with `session` and `since`,
    /// while messages flow: time until all rejoined, server CPU, live latency meanwhile,
    /// and nothing missing.
    Reconnect(reconnect::ReconnectArgs),
    /// The minimal broadcast server the fan-out figures are compared with (the benches
    /// start it themselves with `--reference`).
    ReferenceServer(reference::ReferenceArgs),
    /// A release binary's size and start-up time against a reference binary.
    Startup(startup::StartupArgs),
    /// The standard set (scenarios 1-4), written into BENCHMARKS.md.
    Suite(suite::SuiteArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Thousands of sockets need more descriptors than a default soft limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Socket scenarios run on one thread: the load generator is pinned to one core, and
    // a single-threaded scheduler spends less per delivery than a work-stealing one. The
    // storage benchmark wants its senders on all cores.
    let runtime = match cli.scenario {
        Scenario::Store(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Store(args) => store::run(args).await,
            Scenario::Fanout(args) => {
                let result = fanout::run(args).await?;
                println!("{}", report::FANOUT_HEADER);
                println!("{}", report::fanout_row("fanout", &result));
                Ok(())
            }
            Scenario::Idle(args) => {
                let result = idle::run(args).await?;
                println!("{}", report::IDLE_HEADER);
                println!("{}", report::idle_row("idle", &result));
                Ok(())
            }
            Scenario::Cluster(args) => cluster::run(args).await,
            Scenario::Storm(args) => {
                let result = storm::run(args).await?;
                println!("{}", storm::STORM_HEADER);
                println!("{}", storm::storm_row("join storm", &result));
                Ok(())
            }
            Scenario::Reconnect(args) => {
                let result = reconnect::run(args).await?;
                println!("{}", reconnect::RECONNECT_HEADER);
                println!("{}", reconnect::reconnect_row("reconnect storm", &result));
                Ok(())
            }
            Scenario::ReferenceServer(args) => reference::serve(args).await,
            Scenario::Startup(args) => startup::run(&args),
            Scenario::Suite(args) => suite::run(args).await,
        }
    })
}
