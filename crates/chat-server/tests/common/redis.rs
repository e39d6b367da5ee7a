//! Redis for the cluster tests: the machine's shared server (a fresh namespace per test,
//! so tests never see each other's keys or channels), or a server of the test's own on a
//! free port, for tests that kill and restart it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where every development and CI machine runs Redis; override with
/// `CHAT_TEST_REDIS_URL`.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A Redis URL and a namespace nobody else uses.
#[derive(Debug, Clone)]
pub struct RedisSpot {
    pub url: String,
    pub namespace: String,
}

fn fresh_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("test{}x{nanos}", std::process::id())
}

fn answers(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query::<String>(&mut connection)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{what} is required when CI is set: {why}");
    }
    eprintln!("skipping: {what} is not available ({why})");
    None
}

impl RedisSpot {
    /// The machine's Redis with a namespace of this test's own; `None` (after saying
    /// why) when there is none, and a failure under `CI`.
    pub fn shared() -> Option<RedisSpot> {
        let url =
            std::env::var("CHAT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
        match answers(&url) {
            Ok(()) => Some(RedisSpot {
                url,
                namespace: fresh_namespace(),
            }),
            Err(why) => unavailable(&format!("Redis at {url}"), &why),
        }
    }
}

/// A `redis-server` of the test's own, which it may kill and start again (on the same
/// port, keeping nothing on disk).
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one on a free port; `None` when `redis-server` is not installed (a
    /// failure under `CI`).
    pub fn start() -> Option<OwnRedis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let mut redis = OwnRedis { port, child: None };
        if let Err(why) = redis.run() {
            return unavailable("redis-server", &why);
        }
        Some(redis)
    }

    pub fn spot(&self) -> RedisSpot {
        RedisSpot {
            url: format!("redis://127.0.0.1:{}", self.port),
            namespace: fresh_namespace(),
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let url = format!("redis://127.0.0.1:{}", self.port);
        for _ in 0..200 {
            if answers(&url).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err("redis-server did not answer within 5 s".into())
    }

    /// Kills it (`SIGKILL`: nothing is saved, as with a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        self.kill();
        self.run().unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
