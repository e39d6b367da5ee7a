//! What a deployment sees of a binary before it serves anything: its size on disk, and
//! how long it takes from `exec` to answering the browser app's page (`GET /` 200) with a
//! new SQLite database (migrations included). Each binary is started `runs` times and the
//! median is reported, next to a reference binary measured in the same run (the plain
//! `cargo build --release` server, which reads the app from `dist/`), so the ratio
//! carries over to another machine.

use crate::stats::Percentiles;
use anyhow::Context;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct StartupArgs {
    /// The binary to measure (`just release` prints its path).
    #[arg(long)]
    pub binary: String,
    /// The binary to compare with, measured in the same run.
    #[arg(long, default_value = "target/release/chat-server")]
    pub reference: String,
    /// Starts of each.
    #[arg(long, default_value_t = 11)]
    pub runs: usize,
    /// Given to the reference: its `--static-dir` (the measured binary serves its own).
    #[arg(long, default_value = "dist")]
    pub reference_static_dir: String,
}

/// A binary's size and median start-up.
pub struct Startup {
    pub bytes: u64,
    pub median: Duration,
}

pub fn run(args: &StartupArgs) -> anyhow::Result<()> {
    let measured = measure(&args.binary, &[], args.runs)?;
    // The reference starts in an empty folder too: give it the app's absolute path.
    let dist = std::fs::canonicalize(&args.reference_static_dir)
        .with_context(|| format!("finding {}", args.reference_static_dir))?;
    let static_dir = ["--static-dir".to_owned(), dist.display().to_string()];
    let reference = measure(&args.reference, &static_dir, args.runs)?;
    println!(
        "| binary | size | start-up to `GET /` 200 (median of {}) |",
        args.runs
    );
    println!("|---|---|---|");
    let reference_name = format!(
        "{} --static-dir {}",
        args.reference, args.reference_static_dir
    );
    for (name, s) in [(&args.binary, &measured), (&reference_name, &reference)] {
        println!(
            "| `{name}` | {:.1} MB | {:.1} ms |",
            s.bytes as f64 / 1e6,
            s.median.as_secs_f64() * 1e3
        );
    }
    println!(
        "ratio: size {:.2}x, start-up {:.2}x the reference",
        measured.bytes as f64 / reference.bytes as f64,
        measured.median.as_secs_f64() / reference.median.as_secs_f64()
    );
    Ok(())
}

fn measure(binary: &str, extra: &[String], runs: usize) -> anyhow::Result<Startup> {
    let binary = std::fs::canonicalize(binary).with_context(|| format!("finding {binary}"))?;
    let bytes = std::fs::metadata(&binary)?.len();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(start_once(&binary, extra)?);
    }
    let median = Percentiles::new(samples).at(50.0);
    Ok(Startup { bytes, median })
}

/// One start in an empty folder on a port chosen beforehand: time until `GET /` is 200.
fn start_once(binary: &std::path::Path, extra: &[String]) -> anyhow::Result<Duration> {
    let dir = std::env::temp_dir().join(format!("chat-bench-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(&dir)
        .args(["--addr", &addr])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let deadline = started + Duration::from_secs(30);
    let elapsed = loop {
        if page_answers(&addr) {
            break started.elapsed();
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{} exited with {status}", binary.display());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} never served /",
            binary.display()
        );
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(elapsed)
}

fn page_answers(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
