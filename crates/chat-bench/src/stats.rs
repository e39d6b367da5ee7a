//! Percentiles of measured durations.

use std::time::Duration;

/// Sorted samples, for reading off percentiles.
pub struct Percentiles {
    sorted: Vec<Duration>,
}

impl Percentiles {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Percentiles { sorted: samples }
    }

    /// The `p`-th percentile (0-100), nearest rank; zero when there are no samples.
    pub fn at(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(p.at(50.0), Duration::from_millis(50));
        assert_eq!(p.at(99.0), Duration::from_millis(99));
        assert_eq!(p.at(100.0), Duration::from_millis(100));
        assert_eq!(Percentiles::new(vec![]).at(50.0), Duration::ZERO);
    }
}
