//! The XDP datapath's per-CPU counters as the userspace datapath's metrics: a
//! [`CounterSnapshot`] is the sum over CPUs; the difference between two snapshots becomes a
//! [`BatchCounts`] flushed into the same `trickles_balancer_packets_total`, `bytes_total` and
//! `drops_total` series, so a dashboard cannot tell which datapath forwarded a packet. Frames
//! handed up to userspace are counted by reason in `trickles_balancer_xdp_passed_total` (the
//! userspace datapath then counts what it does with them).

use prometheus::IntCounterVec;

use super::abi::{DROP_REASONS, PASS_NAMES, PASS_REASONS};
use crate::metrics::{BackendCounts, BatchCounts};

/// Every counter of the program, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Per backend slot (index = backend index of the table in force).
    pub backends: Vec<BackendCounts>,
    /// Per [`crate::core::DropReason::ALL`] position.
    pub drops: [u64; DROP_REASONS as usize],
    /// Per pass reason ([`PASS_NAMES`] order).
    pub passed: [u64; PASS_REASONS as usize],
}

impl CounterSnapshot {
    /// All zero, sized for `backends` backends.
    pub fn new(backends: usize) -> Self {
        CounterSnapshot {
            backends: vec![BackendCounts::default(); backends],
            drops: [0; DROP_REASONS as usize],
            passed: [0; PASS_REASONS as usize],
        }
    }

    /// What happened between `earlier` and `self`, as a batch for
    /// [`crate::metrics::BalancerMetrics::flush`], and the passes per reason.
    pub fn since(&self, earlier: &CounterSnapshot) -> (BatchCounts, [u64; PASS_REASONS as usize]) {
        let mut batch = BatchCounts::new(self.backends.len());
        let zero = BackendCounts::default();
        for (i, now) in self.backends.iter().enumerate() {
            let was = earlier.backends.get(i).unwrap_or(&zero);
            batch.backends[i] = BackendCounts {
                to_backend_packets: now
                    .to_backend_packets
                    .saturating_sub(was.to_backend_packets),
                to_backend_bytes: now.to_backend_bytes.saturating_sub(was.to_backend_bytes),
                to_client_packets: now.to_client_packets.saturating_sub(was.to_client_packets),
                to_client_bytes: now.to_client_bytes.saturating_sub(was.to_client_bytes),
            };
        }
        for (i, d) in batch.drops.iter_mut().enumerate() {
            *d = self.drops[i].saturating_sub(earlier.drops[i]);
        }
        let mut passed = [0; PASS_REASONS as usize];
        for (i, p) in passed.iter_mut().enumerate() {
            *p = self.passed[i].saturating_sub(earlier.passed[i]);
        }
        (batch, passed)
    }
}

/// `trickles_balancer_xdp_passed_total{reason}`, every reason pre-created (registered with the
/// other metrics, [`crate::metrics::BalancerMetrics`]: 0 on the userspace datapath).
pub fn passed_counter() -> prometheus::Result<IntCounterVec> {
    let counter = IntCounterVec::new(
        prometheus::Opts::new(
            "trickles_balancer_xdp_passed_total",
            "Frames for a VIP the XDP datapath handed up to the userspace datapath, by reason",
        ),
        &["reason"],
    )?;
    for name in PASS_NAMES {
        counter.with_label_values(&[name]);
    }
    Ok(counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_of_two_snapshots_is_what_happened_between_them() {
        let mut earlier = CounterSnapshot::new(2);
        earlier.backends[1].to_backend_packets = 5;
        earlier.drops[0] = 1;
        let mut later = earlier.clone();
        later.backends[1].to_backend_packets = 8;
        later.backends[1].to_backend_bytes = 300;
        later.drops[0] = 4;
        later.passed[3] = 2;
        let (batch, passed) = later.since(&earlier);
        assert_eq!(batch.backends[1].to_backend_packets, 3);
        assert_eq!(batch.backends[1].to_backend_bytes, 300);
        assert_eq!(batch.backends[0], BackendCounts::default());
        assert_eq!(batch.drops[0], 3);
        assert_eq!(passed, [0, 0, 0, 2, 0, 0]);
    }
}
