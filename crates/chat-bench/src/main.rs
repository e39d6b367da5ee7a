//! `chat-bench`: measures the chat server. Each scenario prints a Markdown table row so
//! results can go straight into `BENCHMARKS.md`.

mod stats;
mod store;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Store(args) => store::run(args).await,
        }
    })
}
