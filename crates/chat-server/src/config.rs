//! Every knob of the server in one place. Each flag is also an environment variable, so
//! the same binary is configured by hand, by a service manager or by a container.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line and environment configuration of `chat-server`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "Real-time multi-room chat server"
)]
pub struct Config {
    /// Something to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Where history and sessions live: `sqlite://FILE` (created if missing) or
    /// `postgres://USER@HOST/DB` for several nodes sharing one database.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    pub database_url: String,

    /// Makes this node one of several: `redis://HOST:PORT` (they share Redis for
    /// everything live and the PostgreSQL of `--database-url` for history). Without it,
    /// the server is one node on its own.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel of this deployment, so that several can
    /// share one Redis.
    #[arg(long, env = "CHAT_REDIS_NAMESPACE", default_value = "chat")]
    pub redis_namespace: String,

    /// Directory of the built browser app, served at `/` with `index.html` as fallback.
    /// Unset: the app embedded in the binary (a `just release` build), else `./dist`.
    #[arg(long, env = "CHAT_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Browser origins allowed to open `/ws` (comma-separated, e.g.
    /// `https://chat.example.com`). Empty: any origin.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// How often the server pings each socket.
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value = "25s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,

    /// A socket silent this long (no frame, no pong) is dropped.
    #[arg(long, env = "CHAT_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Bytes of frames that may wait for one slow client before it is closed with 1013.
    /// Generous on purpose: a healthy client that falls behind during a burst catches up.
    #[arg(long, env = "CHAT_MAX_QUEUE_BYTES", default_value_t = 1 << 20)]
    pub max_queue_bytes: usize,

    /// Frames per second one connection may send on average; 0 turns the limit off.
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value_t = 20)]
    pub rate_per_sec: u32,

    /// Frames one connection may send in a burst above the average rate.
    #[arg(long, env = "CHAT_RATE_BURST", default_value_t = 50)]
    pub rate_burst: u32,

    /// WebSocket connections one client address may open per minute (in bursts of as
    /// many); more get 429. 0 turns the limit off. Behind a reverse proxy, give
    /// `--trust-proxy` too, or every client counts as the proxy's one address.
    #[arg(long, env = "CHAT_CONNECTS_PER_MINUTE", default_value_t = 600)]
    pub connects_per_minute: u32,

    /// Take the client's address from the last `X-Forwarded-For` entry (which the
    /// reverse proxy in front appends) for rate limits and logs. Only behind a proxy
    /// that sets it: otherwise clients could claim any address.
    #[arg(long, env = "CHAT_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// How long a closing connection may take to read its last frames and the close
    /// frame (a slow consumer's 1013 included) before it is dropped.
    #[arg(long, env = "CHAT_CLOSE_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub close_grace: Duration,

    /// A connection must complete its HTTP request head this soon after it is accepted,
    /// or it is closed (slowloris and silent sockets cost nothing lasting).
    #[arg(long, env = "CHAT_REQUEST_HEAD_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_head_timeout: Duration,

    /// Connections that have not completed a request yet, at most; beyond it the oldest
    /// of them is dropped to make room for the newcomer.
    #[arg(long, env = "CHAT_MAX_PENDING_CONNECTIONS", default_value_t = 512)]
    pub max_pending_connections: usize,

    /// Online users above which a room is big: its `joined.members` is capped at 100
    /// (with `online`, the total) and arrivals and departures are coalesced into at most
    /// one `presence` frame per second instead of one `system` frame each, which would
    /// cost n² frames when n people join.
    #[arg(long, env = "CHAT_BIG_ROOM_THRESHOLD", default_value_t = 100)]
    pub big_room_threshold: usize,

    /// Rooms one connection may be in at once; a `join` beyond it gets `error` `limit`.
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_CONNECTION", default_value_t = 200)]
    pub max_rooms_per_connection: usize,

    /// Secret of the HS256 JWTs the deployment's identity service issues (`token` or
    /// `Authorization: Bearer`). Unset: tokens are ignored.
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Token of the Telegram bot whose Mini App this is; it checks the initData (`tg`)
    /// Telegram hands the app. Unset: Telegram sign-in is off.
    #[arg(long, env = "CHAT_TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    pub telegram_bot_token: Option<String>,

    /// Telegram initData older than this is refused (stolen launch data goes stale).
    #[arg(long, env = "CHAT_TELEGRAM_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub telegram_max_age: Duration,

    /// The app's public HTTPS address (e.g. `https://chat.example.com`): where the
    /// Telegram bot's buttons open it. With a bot token and a webhook secret it turns
    /// the bot on.
    #[arg(long, env = "CHAT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The secret Telegram sends with every webhook call
    /// (`X-Telegram-Bot-Api-Secret-Token`); calls without it are refused with 401.
    #[arg(long, env = "CHAT_TELEGRAM_WEBHOOK_SECRET", hide_env_values = true)]
    pub telegram_webhook_secret: Option<String>,

    /// Where the Bot API is (a stand-in in tests).
    #[arg(
        long,
        env = "CHAT_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_url: String,

    /// Whether people without a credential get an anonymous identity (`true`/`false`).
    /// Default: on only when neither a JWT secret nor a bot token is configured. A
    /// `session` the server issued is let in either way.
    #[arg(long, env = "CHAT_ALLOW_ANONYMOUS", num_args = 0..=1, default_missing_value = "true")]
    pub allow_anonymous: Option<bool>,

    /// How long a session token stays valid after it was last used.
    #[arg(long, env = "CHAT_SESSION_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,

    /// How long a stranger-queue ticket with interests holds out for a partner who
    /// shares one before anyone will do.
    #[arg(long, env = "CHAT_PAIR_WIDEN_AFTER", default_value = "10s", value_parser = humantime::parse_duration)]
    pub pair_widen_after: Duration,

    /// How long a member of an anonymous pair may have no connection in it before the
    /// pair closes (a reload must not end a chat).
    #[arg(long, env = "CHAT_PAIR_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub pair_grace: Duration,

    /// The token moderators send (`Authorization: Bearer …`) to read
    /// `/api/admin/reports`; without one that route does not exist (404).
    #[arg(long, env = "CHAT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// How long shutdown waits for sockets to close and writes to be stored.
    #[arg(long, env = "CHAT_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// What `chat-server` can do besides serving (which it does without a command).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The Telegram bot.
    Telegram {
        #[command(subcommand)]
        action: TelegramAction,
    },
    /// Asks the server at `--addr` (`CHAT_ADDR`) for `/healthz` and exits 0 when it
    /// answers 200: the container image's health check, which has no curl to run.
    Healthcheck,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TelegramAction {
    /// Registers the webhook (with its secret), the menu button and the command list;
    /// changes only what differs. Needs the bot token, `--public-url` and
    /// `--telegram-webhook-secret` (given before `telegram`, or as environment variables).
    Setup,
}

/// A setting that is present and not empty: `--admin-token=` (or an empty variable in a
/// service file) means "not set", not "the empty string".
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl Config {
    /// The defaults, ignoring the environment: for tests and embedding, where a stray
    /// `DATABASE_URL` must not change behaviour.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command()
            .mut_args(|arg| arg.env(None::<&str>))
            .get_matches_from(["chat-server"]);
        Self::from_arg_matches(&matches).expect("the built-in defaults parse")
    }
}
