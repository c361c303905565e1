//! Retransmission timeout from RTT samples (Van Jacobson / RFC 6298), in microseconds.

use crate::time::Duration;

/// Smoothed RTT, variance and the resulting RTO.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    initial: Duration,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    /// An estimator with no samples yet.
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: 0,
            initial,
            min_rto,
            max_rto,
        }
    }

    /// Feed one RTT sample.
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.micros();
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let err = s.abs_diff(r);
                self.rttvar = self.rttvar - self.rttvar / 4 + err / 4;
                self.srtt = Some(s - s / 8 + r / 8);
            }
        }
    }

    /// Smoothed RTT, if sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration)
    }

    /// The RTO after `backoff` consecutive expiries.
    pub fn rto(&self, backoff: u32) -> Duration {
        let base = match self.srtt {
            None => self.initial.micros(),
            Some(s) => s + 4 * self.rttvar.max(1_000),
        };
        let base = base.clamp(self.min_rto.micros(), self.max_rto.micros());
        Duration(
            base.saturating_mul(1u64 << backoff.min(16))
                .min(self.max_rto.micros()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_follows_samples_and_backs_off() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        assert_eq!(e.rto(0), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.rto(0), Duration::from_millis(300));
        assert_eq!(e.rto(1), Duration::from_millis(600));
        assert_eq!(e.rto(20), Duration::from_secs(60));
    }
}
