//! Who is on the other end of a request: the socket's peer, or, behind a reverse proxy
//! the operator trusts (`--trust-proxy`), the address that proxy saw.
//!
//! Only the last `X-Forwarded-For` entry is taken: it is the one the trusted proxy
//! appended (nginx's `$proxy_add_x_forwarded_for`); anything before it came from the
//! client and may be invented. Without `--trust-proxy` the header is ignored entirely,
//! or anyone could pick their own address for the rate limits.

use axum::http::{HeaderMap, Request};
use std::net::{IpAddr, SocketAddr};

/// The TCP peer of a request; the edge puts it in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address as far as this server can tell; `None` for requests that did
/// not come through a socket (in-process tests).
pub fn client_ip<B>(request: &Request<B>, trust_proxy: bool) -> Option<IpAddr> {
    let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    if trust_proxy {
        forwarded_for(request.headers()).or(peer)
    } else {
        peer
    }
}

/// The last address of `X-Forwarded-For` (over all its header lines), if it parses.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> Request<()> {
        let mut request = Request::new(());
        request
            .extensions_mut()
            .insert(PeerAddr(peer.parse().unwrap()));
        for value in forwarded {
            request
                .headers_mut()
                .append("x-forwarded-for", value.parse().unwrap());
        }
        request
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_header_counts_only_behind_a_trusted_proxy() {
        let r = request("127.0.0.1:5000", &["203.0.113.7"]);
        assert_eq!(client_ip(&r, false), ip("127.0.0.1"));
        assert_eq!(client_ip(&r, true), ip("203.0.113.7"));
    }

    #[test]
    fn the_entry_the_proxy_appended_wins_over_what_the_client_wrote() {
        let r = request("127.0.0.1:5000", &["10.9.9.9, 198.51.100.2", "203.0.113.7"]);
        assert_eq!(client_ip(&r, true), ip("203.0.113.7"));
        let r = request("127.0.0.1:5000", &["1.2.3.4,  2001:db8::1 "]);
        assert_eq!(client_ip(&r, true), ip("2001:db8::1"));
        let r = request("127.0.0.1:5000", &["[2001:db8::2]:443"]);
        assert_eq!(client_ip(&r, true), ip("2001:db8::2"));
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_the_peer() {
        assert_eq!(
            client_ip(&request("192.0.2.1:1", &[]), true),
            ip("192.0.2.1")
        );
        let r = request("192.0.2.1:1", &["unknown"]);
        assert_eq!(client_ip(&r, true), ip("192.0.2.1"));
        assert_eq!(client_ip(&Request::new(()), true), None);
    }
}
