//! What every request handler and connection shares.

use crate::auth::Authenticator;
use crate::bot::Bot;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::{ConnId, Hub};
use crate::journal::Journal;
use crate::limits::ConnectLimiter;
use crate::metrics::Metrics;
use crate::pairing::Pairing;
use crate::roster::Roster;
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared server state, held in an `Arc` by the router and every connection task.
pub struct AppState {
    pub config: Config,
    /// Who may connect, and with what credentials.
    pub auth: Authenticator,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub journal: Journal,
    pub metrics: Arc<Metrics>,
    /// Every online user's connections.
    pub roster: Arc<dyn Roster>,
    /// The stranger queue and the open pairs.
    pub pairing: Arc<dyn Pairing>,
    /// The Telegram bot, when one is configured.
    pub bot: Option<Arc<Bot>>,
    /// This node's part in a cluster, when it is one of several.
    pub cluster: Option<Arc<Cluster>>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for their close frames.
    pub connections: TaskTracker,
    /// New connections per client address.
    pub connect_limiter: ConnectLimiter,
    next_conn: AtomicU64,
}

/// The parts an [`AppState`] is made of.
pub struct Parts {
    pub config: Config,
    pub auth: Authenticator,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub journal: Journal,
    pub metrics: Arc<Metrics>,
    pub roster: Arc<dyn Roster>,
    pub pairing: Arc<dyn Pairing>,
    pub bot: Option<Arc<Bot>>,
    pub cluster: Option<Arc<Cluster>>,
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            config,
            auth,
            store,
            hub,
            journal,
            metrics,
            roster,
            pairing,
            bot,
            cluster,
            shutdown,
        } = parts;
        let connect_limiter = ConnectLimiter::new(config.connects_per_minute);
        AppState {
            connect_limiter,
            config,
            auth,
            store,
            hub,
            journal,
            metrics,
            roster,
            pairing,
            bot,
            cluster,
            shutdown,
            connections: TaskTracker::new(),
            next_conn: AtomicU64::new(1),
        }
    }

    /// A process-unique id for a new connection.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a browser `Origin` may open a socket. Non-browser clients send none.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let allowed = &self.config.allowed_origins;
        allowed.is_empty()
            || origin.is_none()
            || origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }
}
