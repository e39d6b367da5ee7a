//! `chat-server`: parse the configuration, log, serve, and exit 0 after a clean shutdown.

use anyhow::Context;
use chat_server::config::{Command, TelegramAction};
use chat_server::{Config, Server};
use clap::Parser;
use std::process::ExitCode;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// musl's allocator takes one lock for every allocation of every thread: a server built
/// for it (`just release`) would spend its cores waiting there.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    if let Some(Command::Telegram {
        action: TelegramAction::Setup,
    }) = &config.command
    {
        return telegram_setup(&config).await;
    }
    if let Some(Command::Healthcheck) = &config.command {
        let status = chat_server::healthcheck::check(config.addr).await?;
        println!("{status}");
        return Ok(());
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let server = Server::build(config).await?;
    tracing::info!("listening on http://{addr} (WebSocket at ws://{addr}/ws)");
    server.serve(listener, shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// `chat-server telegram setup`: prints what it changed.
async fn telegram_setup(config: &Config) -> anyhow::Result<()> {
    fn needed<'a>(value: &'a Option<String>, what: &str) -> anyhow::Result<&'a str> {
        chat_server::config::given(value).with_context(|| format!("telegram setup needs {what}"))
    }
    let token = needed(
        &config.telegram_bot_token,
        "the bot token (CHAT_TELEGRAM_BOT_TOKEN)",
    )?;
    let public_url = needed(&config.public_url, "the app's address (CHAT_PUBLIC_URL)")?;
    let secret = needed(
        &config.telegram_webhook_secret,
        "a webhook secret (CHAT_TELEGRAM_WEBHOOK_SECRET)",
    )?;
    chat_server::bot::check_secret(secret)?;
    let api = chat_server::bot::api::BotApi::new(&config.telegram_api_url, token)?;
    for line in chat_server::bot::setup::run(&api, public_url, secret).await? {
        println!("{line}");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested: closing sockets");
}
