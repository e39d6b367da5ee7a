//! The real `chat-server` binary as a child process, for tests of signals and crashes.

use super::Backend;
use super::auth::{TEST_JWT_SECRET, with_credentials};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

/// A running server process; killed when dropped so a failing test leaves nothing behind.
pub struct ChildServer {
    child: Child,
    pub addr: String,
    jwt_secret: Option<&'static str>,
}

impl ChildServer {
    /// Starts the binary on a free port and waits until it listens.
    pub fn spawn(backend: &Backend) -> ChildServer {
        Self::spawn_limited(backend, None)
    }

    /// Like [`ChildServer::spawn`], with the process's open-file limit set to `files`
    /// (through the shell's `ulimit`, so the test needs no unsafe code).
    pub fn spawn_limited(backend: &Backend, files: Option<u32>) -> ChildServer {
        Self::spawn_with(backend, files, &[])
    }

    /// Like [`ChildServer::spawn`], as a node of a cluster on `redis` (its URL and
    /// namespace).
    pub fn spawn_node(backend: &Backend, redis: &super::redis::RedisSpot) -> ChildServer {
        let args = [
            "--redis-url",
            &redis.url,
            "--redis-namespace",
            &redis.namespace,
        ];
        Self::spawn_with(backend, None, &args)
    }

    /// Starts the binary with extra flags.
    pub fn spawn_with(backend: &Backend, files: Option<u32>, extra: &[&str]) -> ChildServer {
        let jwt_secret = backend.signed_in.then_some(TEST_JWT_SECRET);
        let mut command = match files {
            Some(files) => {
                let mut shell = Command::new("bash");
                shell.args([
                    "-c",
                    &format!("ulimit -n {files} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_chat-server"),
                ]);
                shell
            }
            None => Command::new(env!("CARGO_BIN_EXE_chat-server")),
        };
        let mut child = command
            .args(["--addr", "127.0.0.1:0", "--database-url", &backend.url])
            .args(["--rate-per-sec", "0"])
            .args(extra)
            .args(match jwt_secret {
                Some(secret) => vec!["--jwt-secret", secret, "--allow-anonymous=false"],
                None => vec![],
            })
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe (shown with
        // CHAT_TEST_NODE_LOG set, for a failing test's story).
        let show = std::env::var_os("CHAT_TEST_NODE_LOG").is_some();
        let name = addr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if show {
                    eprintln!("[{name}] {line}");
                }
            }
        });
        ChildServer {
            child,
            addr,
            jwt_secret,
        }
    }

    pub fn ws_url(&self, query: &str) -> String {
        let query = with_credentials(query, self.jwt_secret);
        format!("ws://{}/ws{query}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit.
    pub async fn wait(mut self) -> ExitStatus {
        tokio::task::spawn_blocking(move || self.child.wait().unwrap())
            .await
            .unwrap()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
