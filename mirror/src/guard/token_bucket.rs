//! A token bucket in integer arithmetic, time as an argument.
//!
//! Tokens are counted in millionths so that a rate in units per second adds exactly `rate`
//! millionths per microsecond: no floating point, no rounding drift, the same result on every
//! platform (and in a C/XDP datapath).

use trickles_link::time::Instant;

/// Millionths of a token per token.
const SCALE: u128 = 1_000_000;

/// A rate and the burst a full bucket allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketRate {
    /// Tokens added per second.
    pub per_second: u64,
    /// Most tokens the bucket holds.
    pub burst: u64,
}

/// The state of one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens, in millionths.
    tokens: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(rate: BucketRate, now: Instant) -> Self {
        TokenBucket {
            tokens: u128::from(rate.burst) * SCALE,
            last: now,
        }
    }

    /// Refill up to `now`, then take `cost` tokens if there are that many. A clock that goes
    /// backwards refills nothing.
    pub fn take(&mut self, rate: BucketRate, now: Instant, cost: u64) -> bool {
        let elapsed = u128::from(now.saturating_since(self.last).micros());
        let cap = u128::from(rate.burst) * SCALE;
        self.tokens = (self.tokens + elapsed * u128::from(rate.per_second)).min(cap);
        self.last = self.last.max(now);
        let cost = u128::from(cost) * SCALE;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: BucketRate = BucketRate {
        per_second: 1_000,
        burst: 10,
    };

    #[test]
    fn full_bucket_allows_the_burst_then_refuses() {
        let mut bucket = TokenBucket::full(RATE, Instant(0));
        assert!((0..10).all(|_| bucket.take(RATE, Instant(0), 1)));
        assert!(!bucket.take(RATE, Instant(0), 1));
    }

    #[test]
    fn bucket_refills_at_the_rate_exactly() {
        let mut bucket = TokenBucket::full(RATE, Instant(0));
        assert!(bucket.take(RATE, Instant(0), 10));
        // 1000 per second: one token per millisecond.
        assert!(!bucket.take(RATE, Instant(999), 1));
        assert!(bucket.take(RATE, Instant(1_000), 1));
        assert!(!bucket.take(RATE, Instant(1_000), 1));
        // A long idle period refills only up to the burst.
        assert!(bucket.take(RATE, Instant(1_000_000_000), 10));
        assert!(!bucket.take(RATE, Instant(1_000_000_000), 1));
    }

    #[test]
    fn clock_going_backwards_adds_nothing() {
        let mut bucket = TokenBucket::full(RATE, Instant(5_000));
        assert!(bucket.take(RATE, Instant(5_000), 10));
        assert!(!bucket.take(RATE, Instant(0), 1));
        assert!(!bucket.take(RATE, Instant(5_500), 1));
        assert!(bucket.take(RATE, Instant(6_000), 1));
    }
}
