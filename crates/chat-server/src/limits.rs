//! Rate limits, with `governor`'s GCRA: frames per connection, and new connections per
//! client address.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Limits how fast one connection may send frames; unlimited when the rate is 0.
#[derive(Debug)]
pub struct FrameLimiter {
    limiter: Option<DefaultDirectRateLimiter>,
}

impl FrameLimiter {
    /// `per_sec` frames per second on average, bursts of up to `burst`.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        FrameLimiter { limiter }
    }

    /// Takes one frame's allowance, or says how long until one is available.
    pub fn check(&self) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        }
    }
}

/// Limits how many WebSocket connections one client address may open: a script that
/// reconnects in a loop, or one host opening thousands of anonymous identities, is
/// refused with 429 before it costs a handshake. Unlimited when the rate is 0.
#[derive(Debug)]
pub struct ConnectLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl ConnectLimiter {
    /// `per_minute` connections a minute on average, in bursts of as many.
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute)
            .map(|rate| RateLimiter::keyed(Quota::per_minute(rate).allow_burst(rate)));
        ConnectLimiter { limiter }
    }

    /// Takes one connection's allowance for `client`, or says how long until one is
    /// available. A request without an address (not from a socket) is not limited.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        match (&self.limiter, client) {
            (Some(limiter), Some(client)) => limiter
                .check_key(&client)
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            _ => Ok(()),
        }
    }

    /// Forgets addresses whose allowance is full again, so that the table holds only
    /// the recently active (called periodically).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Addresses currently remembered.
    pub fn remembered(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_connect_allowance() {
        let limiter = ConnectLimiter::new(3);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(Some(a)), Ok(()));
        }
        let wait = limiter.check(Some(a)).expect_err("a's fourth in a minute");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(limiter.check(Some(b)), Ok(()), "b is not a");
        assert_eq!(limiter.check(None), Ok(()));
        assert_eq!(limiter.remembered(), 2);
        assert!(ConnectLimiter::new(0).check(Some(a)).is_ok());
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limiter = FrameLimiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check(), Ok(()));
        }
        let wait = limiter
            .check()
            .expect_err("fourth frame in the same instant");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = FrameLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert_eq!(limiter.check(), Ok(()));
        }
    }
}
