//! Per-connection rate limiting of client frames, with `governor`'s GCRA.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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

#[cfg(test)]
mod tests {
    use super::*;

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
