//! The chat server as a library: [`Server::build`] makes the whole application from a
//! [`Config`], [`Server::router`] is what tests drive, and [`Server::serve`] runs it with
//! graceful shutdown. `main.rs` only parses flags, sets up logging and calls these.

pub mod api_error;
pub mod auth;
pub mod bot;
pub mod client_addr;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod deferred_flush;
pub mod edge;
pub mod healthcheck;
pub mod http;
pub mod hub;
pub mod identity;
pub mod ids;
pub mod journal;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod outgoing;
pub mod pairing;
pub mod roster;
pub mod state;
pub mod store;
pub mod ws;

pub use config::Config;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use hub::Hub;
use journal::Journal;
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// How often expired sessions are removed from storage.
const SESSION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// How often the connect limiter forgets addresses that have been quiet.
const CONNECT_LIMITER_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Keeps the connect limiter's table to the recently active addresses.
async fn forget_idle_addresses(state: Arc<AppState>) {
    let mut every = tokio::time::interval(CONNECT_LIMITER_SWEEP_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = every.tick() => state.connect_limiter.forget_idle(),
        }
    }
}

/// How often big rooms get their coalesced `presence` frame (the protocol's "at most
/// once per second").
const PRESENCE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends big rooms' pending arrivals and departures, once a second.
async fn flush_presence(hub: Arc<Hub>, stop: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(PRESENCE_EVERY);
    // Late ticks are not made up for: two frames never come closer than a second.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => hub.flush_presence(),
        }
    }
}

/// A built server: state, storage and background tasks, ready to serve.
pub struct Server {
    state: Arc<AppState>,
    background: TaskTracker,
}

impl Server {
    /// Opens storage and starts the background writer.
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        let redis_url = config::given(&config.redis_url).map(str::to_owned);
        if redis_url.is_some() && config.database_url.starts_with("sqlite:") {
            anyhow::bail!(
                "--redis-url makes this node one of several, and they must share their \
                 history: give --database-url a PostgreSQL URL (postgres://…), not SQLite"
            );
        }
        let store = store::open(&config.database_url)
            .await
            .with_context(|| format!("opening storage {:?}", config.database_url))?;
        let metrics = Arc::new(metrics::Metrics::default());
        let hub = Arc::new(Hub::new(metrics.clone(), config.big_room_threshold));
        let background = TaskTracker::new();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let cluster = match &redis_url {
            Some(url) => Some(cluster::Cluster::start(
                &cluster::Settings {
                    redis_url: url,
                    namespace: &config.redis_namespace,
                    pair_grace: config.pair_grace,
                },
                store.clone(),
                hub.clone(),
                metrics.clone(),
                &background,
                shutdown.clone(),
            )?),
            None => None,
        };
        let roster: Arc<dyn roster::Roster> = match &cluster {
            Some(cluster) => cluster.roster(),
            None => Arc::new(roster::LocalRoster::default()),
        };
        let bot = bot::Bot::start(
            &config,
            store.clone(),
            metrics.clone(),
            roster.clone(),
            cluster.clone(),
            &background,
            shutdown.clone(),
        )?;
        let mut observers: Vec<Arc<dyn journal::CommitObserver>> = Vec::new();
        if let Some(bot) = &bot {
            observers.push(bot.clone());
        }
        if let Some(cluster) = &cluster {
            observers.push(cluster.clone());
        }
        let journal = Journal::start(
            store.clone(),
            hub.clone(),
            metrics.clone(),
            observers,
            &background,
        );
        let settings = pairing::PairingSettings {
            widen_after: config.pair_widen_after,
            grace: config.pair_grace,
        };
        let pairing: Arc<dyn pairing::Pairing> = match &cluster {
            Some(cluster) => {
                let pairing = Arc::new(cluster::RedisPairing::new(
                    cluster.clone(),
                    settings,
                    store.clone(),
                    metrics.clone(),
                ));
                background.spawn(pairing.clone().run_timers(shutdown.clone()));
                pairing
            }
            None => {
                let pairing = Arc::new(
                    pairing::LocalPairing::restore(
                        settings,
                        store.clone(),
                        hub.clone(),
                        roster.clone(),
                        metrics.clone(),
                    )
                    .await
                    .context("loading open pairs")?,
                );
                background.spawn(pairing.clone().run_timers(shutdown.clone()));
                pairing
            }
        };
        let auth = auth::Authenticator::from_config(&config)?;
        let state = Arc::new(AppState::new(state::Parts {
            config,
            auth,
            store,
            hub,
            journal,
            metrics,
            roster,
            pairing: pairing.clone(),
            bot,
            cluster,
            shutdown,
        }));
        background.spawn(identity::sweep_sessions(
            state.store.clone(),
            state.config.session_ttl,
            SESSION_SWEEP_EVERY,
            state.shutdown.clone(),
        ));
        background.spawn(forget_idle_addresses(state.clone()));
        background.spawn(flush_presence(state.hub.clone(), state.shutdown.clone()));
        Ok(Server { state, background })
    }

    /// The state every connection shares (for in-crate tests that drive a connection
    /// over an in-memory socket).
    #[cfg(test)]
    pub(crate) fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Every route of the product.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/ws", get(ws::upgrade))
            .route("/api/me", get(http::me))
            .route("/telegram/webhook", post(http::telegram_webhook))
            .route("/api/rooms", get(http::list_rooms))
            .route("/api/rooms/{room}/messages", get(http::room_messages))
            .route("/api/rooms/{room}/members", get(http::room_members))
            .route("/api/admin/reports", get(http::admin_reports))
            .route("/healthz", get(http::healthz))
            .route("/metrics", get(http::metrics))
            .fallback_service(http::app::router(self.state.config.static_dir.as_deref()))
            .with_state(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then closes every socket with 1001 after storing
    /// what clients sent, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = self.state.shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            token.cancel();
        });
        let config = &self.state.config;
        let limits = edge::EdgeLimits {
            request_head_timeout: config.request_head_timeout,
            max_pending_connections: config.max_pending_connections,
        };
        edge::serve(
            listener,
            self.router(),
            limits,
            self.state.shutdown.clone(),
            config.shutdown_grace,
        )
        .await;
        self.finish().await;
        Ok(())
    }

    /// Waits (within the grace period) for sockets to close and the journal to drain.
    async fn finish(self) {
        let grace = self.state.config.shutdown_grace;
        self.state.shutdown.cancel();
        self.state.connections.close();
        if tokio::time::timeout(grace, self.state.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within {grace:?}");
        }
        if tokio::time::timeout(grace, self.state.journal.flush())
            .await
            .is_err()
        {
            tracing::error!("pending messages were not stored within {grace:?}");
        }
        self.background.close();
    }
}
