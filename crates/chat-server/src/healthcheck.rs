//! `chat-server healthcheck`: the client side of `/healthz`, for a container image that
//! has nothing else to run (no shell, no curl).

use anyhow::Context;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// A health check that takes longer than this failed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the server listening on `addr` for `/healthz`; its body when it answered 200.
pub async fn check(addr: SocketAddr) -> anyhow::Result<String> {
    let url = format!("http://{}/healthz", reachable(addr));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .context("making an HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

/// Where to reach a server bound to `addr`: a wildcard address means this host.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_asked_on_loopback() {
        let at = |s: &str| reachable(s.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:3000"), "127.0.0.1:3000");
        assert_eq!(at("[::]:3000"), "[::1]:3000");
        assert_eq!(at("10.1.2.3:80"), "10.1.2.3:80");
    }
}
