//! Exponential backoff with jitter, between `retry_initial` and `retry_max`.
//!
//! The n-th consecutive delay is `initial · 2ⁿ`, capped at `max`, less a
//! random share of up to a quarter, so that many writers that failed
//! together do not retry together.

use std::time::Duration;

/// The delays of one run of failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the next one.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(self.initial, self.max, self.failures, fastrand::f64());
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// Success: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The delay after `failures` earlier failures; `jitter` in `[0, 1)`.
pub fn delay(initial: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let base = initial
        .checked_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    base.mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_from_initial_to_max() {
        let max = Duration::from_secs(60);
        let seq: Vec<u64> = (0..9).map(|n| delay(S, max, n, 0.0).as_secs()).collect();
        assert_eq!(seq, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(delay(S, max, u32::MAX, 0.0), max);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let max = Duration::from_secs(60);
        let mut b = Backoff::new(S, max);
        for n in 0..200 {
            let d = b.next_delay();
            let base = delay(S, max, n, 0.0);
            assert!(d <= base && d >= base.mul_f64(0.75), "{n}: {d:?}");
            assert!(d <= max && d >= S.mul_f64(0.75));
        }
        b.reset();
        assert!(b.next_delay() <= S);
        assert_eq!(delay(S, max, 0, 0.999_999).as_millis(), 750);
    }
}
