//! The server under test: started as a child process (pinned to a CPU when asked) and
//! observed through `/proc`, so CPU time and memory are the server's own.

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `chat-server`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: String,
    database: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts `binary` on a free port with a fresh SQLite file and no rate limit, pinned
    /// to `cpu` with `taskset` when given.
    pub fn start(binary: &str, cpu: Option<usize>, extra_args: &[String]) -> anyhow::Result<Self> {
        Self::start_on(binary, cpu, None, extra_args)
    }

    /// Like [`ServerProcess::start`], on the database `database_url` when given (a
    /// node of several shares PostgreSQL with the others).
    pub fn start_on(
        binary: &str,
        cpu: Option<usize>,
        database_url: Option<&str>,
        extra_args: &[String],
    ) -> anyhow::Result<Self> {
        let database =
            std::env::temp_dir().join(format!("chat-bench-server-{}.db", std::process::id()));
        if database_url.is_none() {
            remove_database(&database);
        }
        let database_url = database_url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sqlite://{}", database.display()));
        let mut command = pinned(binary, cpu);
        command
            // Thousands of simulated users come from one address here.
            .args([
                "--addr",
                "127.0.0.1:0",
                "--rate-per-sec",
                "0",
                "--connects-per-minute",
                "0",
            ])
            .args(["--database-url", &database_url])
            .args(extra_args)
            .env("RUST_LOG", "warn,chat_server=info");
        Self::spawn(command, database)
    }

    /// Starts the minimal broadcast server (`chat-bench reference-server`, this very
    /// binary) on a free port, pinned to `cpu` when given: the reference the fan-out
    /// figures are read against.
    pub fn start_reference(cpu: Option<usize>) -> anyhow::Result<Self> {
        let bench = std::env::current_exe().context("this binary's path")?;
        let mut command = pinned(&bench.to_string_lossy(), cpu);
        command.args(["reference-server", "--addr", "127.0.0.1:0"]);
        let unused =
            std::env::temp_dir().join(format!("chat-bench-reference-{}", std::process::id()));
        Self::spawn(command, unused)
    }

    /// Runs `command` and waits until it says where it listens.
    fn spawn(mut command: Command, database: std::path::PathBuf) -> anyhow::Result<Self> {
        command
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("starting the server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().context("server exited before listening")??;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(ServerProcess {
            child,
            addr,
            database,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as a deploy does: SIGTERM, then waits (without blocking the
    /// runtime, whose clients must read their close frames) until it has exited.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.child.id());
        while self.child.try_wait()?.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_database(&self.database);
    }
}

/// `binary`, under `taskset -c CPU` when a CPU is given.
fn pinned(binary: &str, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string(), binary]);
            command
        }
        None => Command::new(binary),
    }
}

fn remove_database(file: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.to_path_buf().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// CPU time and resident memory of a process, read from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu: Duration,
    pub rss_bytes: u64,
}

/// Clock ticks per second of `/proc/PID/stat` times; 100 on every Linux we run on.
const TICKS_PER_SEC: u64 = 100;

/// Reads the process's user+system CPU time and RSS.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("odd stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(Usage {
        cpu: Duration::from_millis(ticks * 1000 / TICKS_PER_SEC),
        rss_bytes: rss_kb * 1024,
    })
}

/// Waits until the process uses under 5 % of a core over a 200 ms window (at most
/// `limit`), so that set-up work such as a big room's join notices is not measured.
pub async fn wait_until_quiet(pid: u32, limit: Duration) -> anyhow::Result<()> {
    const WINDOW: Duration = Duration::from_millis(200);
    let deadline = std::time::Instant::now() + limit;
    let mut before = usage(pid)?.cpu;
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(WINDOW).await;
        let now = usage(pid)?.cpu;
        if now.saturating_sub(before) < WINDOW / 20 {
            return Ok(());
        }
        before = now;
    }
    Ok(())
}
