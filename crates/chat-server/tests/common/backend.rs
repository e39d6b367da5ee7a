//! The databases tests run against: a fresh SQLite file, or a fresh PostgreSQL schema.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where PostgreSQL is on every development and CI machine; override with
/// `CHAT_TEST_POSTGRES_URL`.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Test schemas older than this are left-overs of runs that were killed: dropped.
const STALE_SCHEMA_SECS: u64 = 3600;

/// A database for one test, removed (SQLite) or left for later clean-up (PostgreSQL).
pub struct Backend {
    pub url: String,
    /// The server refuses anonymous users and test clients sign in with JWTs.
    pub signed_in: bool,
    /// Set for a node of a cluster (PostgreSQL and Redis): the server is one node.
    pub redis: Option<super::redis::RedisSpot>,
    sqlite_file: Option<PathBuf>,
}

impl Backend {
    /// A new SQLite file in the temp directory.
    pub fn sqlite() -> Backend {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let file = std::env::temp_dir().join(format!(
            "chat-test-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Backend {
            url: format!("sqlite://{}", file.display()),
            signed_in: false,
            redis: None,
            sqlite_file: Some(file),
        }
    }

    /// A new SQLite file for a server that lets in only signed-in users.
    pub fn sqlite_signed_in() -> Backend {
        let mut backend = Backend::sqlite();
        backend.signed_in = true;
        backend
    }

    /// A new schema in the test PostgreSQL database, or `None` (with the reason printed)
    /// when there is none on this machine. Under `CI` a missing database fails the test.
    pub async fn postgres() -> Option<Backend> {
        let base = std::env::var("CHAT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let connect = sqlx::PgPool::connect(&base);
        let pool = match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(pool)) => pool,
            Ok(Err(err)) => return unavailable(&base, &err.to_string()),
            Err(_) => return unavailable(&base, "connection timed out"),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        drop_stale_schemas(&pool, now).await;
        let schema = format!("chat_test_{now}_{}", rand::random::<u32>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        Some(Backend {
            url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            signed_in: false,
            redis: None,
            sqlite_file: None,
        })
    }

    /// PostgreSQL and Redis (a namespace of its own): the server under test is a node
    /// of a cluster, with the line, pairs and presence in Redis. `None` as for
    /// [`Backend::postgres`] when either is missing.
    pub async fn cluster_node() -> Option<Backend> {
        let redis = super::redis::RedisSpot::shared()?;
        let mut backend = Backend::postgres().await?;
        backend.redis = Some(redis);
        Some(backend)
    }
}

fn unavailable(url: &str, why: &str) -> Option<Backend> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("PostgreSQL at {url} is required when CI is set: {why}");
    }
    eprintln!("skipping the PostgreSQL variant: no database at {url} ({why})");
    None
}

async fn drop_stale_schemas(pool: &sqlx::PgPool, now: u64) {
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'chat\\_test\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    for schema in schemas {
        let created: u64 = schema
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if now.saturating_sub(created) > STALE_SCHEMA_SECS {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(pool)
            .await;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Runs each named `async fn(Backend)` on SQLite, on PostgreSQL, and on SQLite with
/// anonymous users refused and every client signed in with a JWT, as `name::sqlite`,
/// `name::postgres` and `name::signed_in`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::backend_tests!($name);

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn signed_in() {
                super::$name($crate::common::Backend::sqlite_signed_in()).await;
            }
        }
    )*};
}

/// Like [`on_every_backend`] without the signed-in variant, for tests that set up sign-in
/// themselves.
#[macro_export]
macro_rules! on_each_database {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::backend_tests!($name);
        }
    )*};
}

/// Runs each named `async fn(Backend)` on a node of a cluster (PostgreSQL and Redis),
/// as `name::cluster_node`, for the parts that Redis takes over from the process.
#[macro_export]
macro_rules! on_a_cluster_node {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster_node() {
                if let Some(backend) = $crate::common::Backend::cluster_node().await {
                    super::super::$name(backend).await;
                }
            }
        }
    )*};
}

/// The SQLite and PostgreSQL variants of one test, inside its module.
#[macro_export]
macro_rules! backend_tests {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::$name($crate::common::Backend::sqlite()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            if let Some(backend) = $crate::common::Backend::postgres().await {
                super::$name(backend).await;
            }
        }
    };
}
