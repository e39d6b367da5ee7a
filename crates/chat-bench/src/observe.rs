//! Reading what a server (or Redis) says about itself: `/metrics` counters and Redis'
//! command count, over plain sockets.

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Redis' own count of commands processed (`INFO stats`), over a plain socket.
pub async fn redis_commands(url: &str) -> anyhow::Result<u64> {
    let addr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to Redis at {addr}"))?;
    stream.write_all(b"INFO stats\r\n").await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(count) = text
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            && text.ends_with("\r\n")
        {
            return Ok(count.trim().parse()?);
        }
    }
    anyhow::bail!("Redis did not say how many commands it processed")
}

/// Reads one counter or gauge without labels from a server's `/metrics`.
pub async fn metric(addr: &str, name: &str) -> Option<u64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let prefix = format!("{name} ");
    response
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim().parse().ok())
}
