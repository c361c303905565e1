//! [`ClientMetrics`]: what a long-running client (`trickles-client get --metrics ADDR`, usually
//! with `--parallel N`) exports, so Prometheus sees the delivery rate a user sees, and stalls,
//! while replicas fail over behind the balancer.
//!
//! | metric | meaning |
//! | --- | --- |
//! | `trickles_client_delivered_bytes_total` | body bytes delivered in order, all transfers (the goodput is its rate) |
//! | `trickles_client_last_delivery_timestamp_seconds` | Unix time of the last delivery (`time() - it` is the age of a stall in progress) |
//! | `trickles_client_stall_duration_seconds` | histogram of gaps between two deliveries of one transfer that lasted at least [`STALL_THRESHOLD`] (its `_count` is the number of stalls) |
//! | `trickles_client_retransmissions_total` | retransmitted packets received (Trickles) |
//! | `trickles_client_timeouts_total` | retransmission timeouts that restarted a window (Trickles) |
//! | `trickles_client_unreachables_total` | ICMP "destination unreachable" for our own datagrams that the transport acted on at once, or a balancer's notice of the same (REFUSE code 6) (Trickles) |
//! | `trickles_client_replica_moves_total` | Moves of a transfer to the next of several replicas after its server proved unreachable (Trickles) |
//! | `trickles_client_active_transfers` | transfers started and not ended |
//! | `trickles_client_transfers_total{result}` | ended transfers, `completed` or `failed` |
//! | `trickles_client_build_info{version,profile}`, `process_*` | [`trickles_netfn::standard_metrics`] |
//!
//! Transfers are not labels: with `--parallel 1000` that would be a thousand series. Each
//! [`crate::recorder::TransferRecorder`] holds a [`TransferMetrics`] and adds to the shared
//! counters as it delivers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// A gap between two deliveries at least this long is a stall.
pub const STALL_THRESHOLD: Duration = Duration::from_millis(200);

/// Upper bounds of the stall buckets, in seconds.
pub const STALL_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];

/// `result` label of a transfer that delivered its whole body.
pub const COMPLETED: &str = "completed";
/// `result` label of a transfer that ended otherwise.
pub const FAILED: &str = "failed";

/// Every metric of the client, in one registry.
#[derive(Clone, Debug)]
pub struct ClientMetrics {
    /// The registry the endpoint renders.
    pub registry: Registry,
    delivered_bytes: IntCounter,
    last_delivery: Gauge,
    stall_duration: Histogram,
    retransmissions: IntCounter,
    timeouts: IntCounter,
    unreachables: IntCounter,
    replica_moves: IntCounter,
    active: IntGauge,
    transfers: IntCounterVec,
}

impl ClientMetrics {
    /// Create and register every metric in a new registry.
    pub fn new() -> prometheus::Result<Self> {
        let metrics = ClientMetrics {
            registry: Registry::new(),
            delivered_bytes: IntCounter::new(
                "trickles_client_delivered_bytes_total",
                "Body bytes delivered in order, all transfers",
            )?,
            last_delivery: Gauge::new(
                "trickles_client_last_delivery_timestamp_seconds",
                "Unix time of the last delivery of body bytes",
            )?,
            stall_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "trickles_client_stall_duration_seconds",
                    "Gaps of at least 200 ms between two deliveries of one transfer",
                )
                .buckets(STALL_BUCKETS.to_vec()),
            )?,
            retransmissions: IntCounter::new(
                "trickles_client_retransmissions_total",
                "Retransmitted packets received",
            )?,
            timeouts: IntCounter::new(
                "trickles_client_timeouts_total",
                "Retransmission timeouts that restarted a window",
            )?,
            unreachables: IntCounter::new(
                "trickles_client_unreachables_total",
                "ICMP destination-unreachable errors for our datagrams (or a balancer notice of one) acted on at once",
            )?,
            replica_moves: IntCounter::new(
                "trickles_client_replica_moves_total",
                "Moves of a transfer to the next replica after its server proved unreachable",
            )?,
            active: IntGauge::new(
                "trickles_client_active_transfers",
                "Transfers started and not ended",
            )?,
            transfers: IntCounterVec::new(
                Opts::new(
                    "trickles_client_transfers_total",
                    "Ended transfers, by result",
                ),
                &["result"],
            )?,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.delivered_bytes.clone()))?;
        r.register(Box::new(metrics.last_delivery.clone()))?;
        r.register(Box::new(metrics.stall_duration.clone()))?;
        r.register(Box::new(metrics.retransmissions.clone()))?;
        r.register(Box::new(metrics.timeouts.clone()))?;
        r.register(Box::new(metrics.unreachables.clone()))?;
        r.register(Box::new(metrics.replica_moves.clone()))?;
        r.register(Box::new(metrics.active.clone()))?;
        r.register(Box::new(metrics.transfers.clone()))?;
        for result in [COMPLETED, FAILED] {
            metrics.transfers.with_label_values(&[result]);
        }
        trickles_netfn::register_standard_metrics(r, "client", env!("CARGO_PKG_VERSION"))?;
        Ok(metrics)
    }

    /// A transfer starts: it is active until the returned value is dropped.
    pub fn start_transfer(&self) -> TransferMetrics {
        self.active.inc();
        TransferMetrics {
            metrics: self.clone(),
            completed: false,
            reported: TransportTotals::default(),
        }
    }
}

/// One transfer's share of the [`ClientMetrics`].
#[derive(Debug)]
pub struct TransferMetrics {
    metrics: ClientMetrics,
    completed: bool,
    /// What was already added.
    reported: TransportTotals,
}

/// A connection's running totals of its transport events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportTotals {
    /// Retransmitted packets received.
    pub retransmissions: u64,
    /// Timeouts that restarted a window.
    pub timeouts: u64,
    /// Destination-unreachable errors acted on.
    pub unreachables: u64,
    /// Moves to the next replica.
    pub replica_moves: u64,
}

impl TransferMetrics {
    /// `bytes` delivered; `gap` since this transfer's previous delivery, if any.
    pub fn delivered(&self, bytes: u64, gap: Option<Duration>) {
        let m = &self.metrics;
        m.delivered_bytes.inc_by(bytes);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        m.last_delivery.set(now.as_secs_f64());
        if let Some(gap) = gap.filter(|gap| *gap >= STALL_THRESHOLD) {
            m.stall_duration.observe(gap.as_secs_f64());
        }
    }

    /// The transport's running totals; adds what is new.
    pub fn transport_totals(&mut self, totals: TransportTotals) {
        let (m, old) = (&self.metrics, self.reported);
        m.retransmissions
            .inc_by(totals.retransmissions.saturating_sub(old.retransmissions));
        m.timeouts
            .inc_by(totals.timeouts.saturating_sub(old.timeouts));
        m.unreachables
            .inc_by(totals.unreachables.saturating_sub(old.unreachables));
        m.replica_moves
            .inc_by(totals.replica_moves.saturating_sub(old.replica_moves));
        self.reported = TransportTotals {
            retransmissions: old.retransmissions.max(totals.retransmissions),
            timeouts: old.timeouts.max(totals.timeouts),
            unreachables: old.unreachables.max(totals.unreachables),
            replica_moves: old.replica_moves.max(totals.replica_moves),
        };
    }

    /// The whole body was delivered.
    pub fn completed(&mut self) {
        self.completed = true;
    }
}

impl Drop for TransferMetrics {
    /// The transfer ended: completed, or failed if [`TransferMetrics::completed`] was not called.
    fn drop(&mut self) {
        self.metrics.active.dec();
        let result = if self.completed { COMPLETED } else { FAILED };
        self.metrics.transfers.with_label_values(&[result]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(metrics: &ClientMetrics, line_start: &str) -> f64 {
        let text = trickles_netfn::render(&metrics.registry);
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
    }

    #[test]
    fn transfers_add_bytes_stalls_and_results() {
        let metrics = ClientMetrics::new().expect("metrics");
        let mut first = metrics.start_transfer();
        let second = metrics.start_transfer();
        assert_eq!(value(&metrics, "trickles_client_active_transfers "), 2.0);
        first.delivered(1000, None);
        first.delivered(500, Some(Duration::from_millis(10)));
        first.delivered(500, Some(Duration::from_secs(2)));
        second.delivered(100, Some(Duration::from_millis(199)));
        assert_eq!(
            value(&metrics, "trickles_client_delivered_bytes_total "),
            2100.0
        );
        assert_eq!(
            value(&metrics, "trickles_client_stall_duration_seconds_count "),
            1.0
        );
        assert_eq!(
            value(&metrics, "trickles_client_stall_duration_seconds_sum "),
            2.0
        );
        assert!(value(&metrics, "trickles_client_last_delivery_timestamp_seconds ") > 1e9);
        let totals = |retransmissions, unreachables| TransportTotals {
            retransmissions,
            timeouts: 1,
            unreachables,
            replica_moves: 0,
        };
        first.transport_totals(totals(3, 2));
        first.transport_totals(totals(5, 2));
        assert_eq!(
            value(&metrics, "trickles_client_retransmissions_total "),
            5.0
        );
        assert_eq!(value(&metrics, "trickles_client_timeouts_total "), 1.0);
        assert_eq!(value(&metrics, "trickles_client_unreachables_total "), 2.0);
        first.completed();
        drop(first);
        drop(second);
        assert_eq!(value(&metrics, "trickles_client_active_transfers "), 0.0);
        let completed = "trickles_client_transfers_total{result=\"completed\"} ";
        let failed = "trickles_client_transfers_total{result=\"failed\"} ";
        assert_eq!(value(&metrics, completed), 1.0);
        assert_eq!(value(&metrics, failed), 1.0);
    }
}
