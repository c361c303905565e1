//! The balancer's metrics, all `trickles_balancer_*`, registered in one registry.
//!
//! | metric | meaning |
//! | --- | --- |
//! | `trickles_balancer_packets_total{backend,direction}` | datagrams forwarded; `direction` is `to_backend` (client → replica) or `to_client` (relayed reply) |
//! | `trickles_balancer_bytes_total{backend,direction}` | their bytes (the Trickles datagram, without the encapsulation header) |
//! | `trickles_balancer_drops_total{reason}` | datagrams not forwarded, by [`DropReason`] name |
//! | `trickles_balancer_backend_up{backend}` | 1 when the health checks say up |
//! | `trickles_balancer_backend_in_table{backend}` | 1 when it receives new datagrams (up and not drained) |
//! | `trickles_balancer_health_checks_total{backend,result}` | probes by outcome (`ok`, `timeout`, `refused`, `failed`) |
//! | `trickles_balancer_table_rebuilds_total` | forwarding tables published (health change, reload) |
//! | `trickles_balancer_backend_unreachables_total` | ICMP "destination unreachable" for datagrams forwarded to a backend (it is probed at once) |
//! | `trickles_balancer_unreachable_notices_total` | those passed on to the client whose datagram they quoted (a REFUSE with code 6: resume at once; `crate::backend_errors`) |
//! | `trickles_balancer_table_moved_share` | share of Maglev slots whose backend changed at the last rebuild |
//! | `trickles_balancer_table_moved_slots_total` | Maglev slots moved, summed over rebuilds |
//! | `trickles_balancer_table_build_seconds` | time the last Maglev build took |
//! | `trickles_balancer_backends_in_table` | backends receiving new datagrams |
//! | `trickles_balancer_config_reloads_total{result}` | reloads applied (`ok`) or refused (`error`) |
//! | `trickles_balancer_health_check_duration_seconds{backend}` | histogram: time a probe took until its outcome (a timeout counts as the timeout) |
//! | `trickles_balancer_datapath_info{datapath}` | 1 for the datapath that sees frames first: `xdp` (the XDP program in front, `crate::xdp`) or `userspace` |
//! | `trickles_balancer_xdp_passed_total{reason}` | frames for a VIP the XDP datapath handed up to the userspace datapath (`crate::xdp::counters`; 0 without it) |
//! | `trickles_balancer_batch_duration_seconds` | histogram: a datapath worker's time per received batch ([`trickles_netfn::batch_histogram`]) |
//! | `trickles_balancer_build_info{version,profile}`, `process_*` | [`trickles_netfn::standard_metrics`] |
//!
//! Labels stay low-cardinality: backend names come from the configuration. Datapath workers add
//! their per-batch counts once per batch ([`BatchCounts`]).

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::core::{DropReason, ForwardingTable, ProbeOutcome};

/// `direction` label of datagrams sent to a backend.
pub const TO_BACKEND: &str = "to_backend";
/// `direction` label of replies relayed to a client.
pub const TO_CLIENT: &str = "to_client";

/// Every metric of the balancer.
#[derive(Clone, Debug)]
pub struct BalancerMetrics {
    /// The registry the endpoint renders.
    pub registry: Registry,
    packets: IntCounterVec,
    bytes: IntCounterVec,
    drops: IntCounterVec,
    /// `trickles_balancer_backend_up{backend}`
    pub backend_up: IntGaugeVec,
    /// `trickles_balancer_backend_in_table{backend}`
    pub backend_in_table: IntGaugeVec,
    /// `trickles_balancer_health_checks_total{backend,result}`
    pub health_checks: IntCounterVec,
    /// `trickles_balancer_table_rebuilds_total`
    pub table_rebuilds: IntCounter,
    /// `trickles_balancer_backend_unreachables_total`
    pub backend_unreachables: IntCounter,
    /// `trickles_balancer_unreachable_notices_total`
    pub unreachable_notices: IntCounter,

    /// `trickles_balancer_table_moved_share`
    pub table_moved_share: Gauge,
    /// `trickles_balancer_table_moved_slots_total`
    pub table_moved_slots: IntCounter,
    /// `trickles_balancer_table_build_seconds`
    pub table_build_seconds: Gauge,
    /// `trickles_balancer_backends_in_table`
    pub backends_in_table: IntGauge,
    /// `trickles_balancer_config_reloads_total{result}`
    pub config_reloads: IntCounterVec,
    /// `trickles_balancer_health_check_duration_seconds{backend}`
    pub health_check_duration: HistogramVec,
    /// `trickles_balancer_batch_duration_seconds`
    pub batch_duration: Histogram,
    /// `trickles_balancer_datapath_info{datapath}`
    pub datapath_info: IntGaugeVec,
    /// `trickles_balancer_xdp_passed_total{reason}`
    pub xdp_passed: IntCounterVec,
}

/// Upper bounds of the probe-latency buckets, in seconds (100 µs on loopback up to a 5 s
/// timeout).
pub const PROBE_BUCKETS: [f64; 14] = [
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0,
];

impl BalancerMetrics {
    /// Create and register every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge_vec =
            |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["backend"]);
        let metrics = BalancerMetrics {
            packets: counter_vec(
                "trickles_balancer_packets_total",
                "Datagrams forwarded, per backend and direction",
                &["backend", "direction"],
            )?,
            bytes: counter_vec(
                "trickles_balancer_bytes_total",
                "Bytes forwarded (without encapsulation), per backend and direction",
                &["backend", "direction"],
            )?,
            drops: counter_vec(
                "trickles_balancer_drops_total",
                "Datagrams not forwarded, by reason",
                &["reason"],
            )?,
            backend_up: gauge_vec(
                "trickles_balancer_backend_up",
                "1 when the backend's health checks say it is up",
            )?,
            backend_in_table: gauge_vec(
                "trickles_balancer_backend_in_table",
                "1 when the backend receives new datagrams (up and not drained)",
            )?,
            health_checks: counter_vec(
                "trickles_balancer_health_checks_total",
                "Health probes by backend and outcome",
                &["backend", "result"],
            )?,
            backend_unreachables: IntCounter::new(
                "trickles_balancer_backend_unreachables_total",
                "ICMP destination-unreachable errors for datagrams forwarded to a backend",
            )?,
            unreachable_notices: IntCounter::new(
                "trickles_balancer_unreachable_notices_total",
                "Backend unreachables passed on to the client whose datagram they quoted",
            )?,
            table_rebuilds: IntCounter::new(
                "trickles_balancer_table_rebuilds_total",
                "Forwarding tables published",
            )?,
            table_moved_share: Gauge::new(
                "trickles_balancer_table_moved_share",
                "Share of Maglev slots whose backend changed at the last rebuild",
            )?,
            table_moved_slots: IntCounter::new(
                "trickles_balancer_table_moved_slots_total",
                "Maglev slots whose backend changed, summed over rebuilds",
            )?,
            table_build_seconds: Gauge::new(
                "trickles_balancer_table_build_seconds",
                "Time the last Maglev table build took",
            )?,
            backends_in_table: IntGauge::new(
                "trickles_balancer_backends_in_table",
                "Backends receiving new datagrams",
            )?,
            config_reloads: counter_vec(
                "trickles_balancer_config_reloads_total",
                "Configuration reloads by result",
                &["result"],
            )?,
            health_check_duration: HistogramVec::new(
                HistogramOpts::new(
                    "trickles_balancer_health_check_duration_seconds",
                    "Time a health probe took until its outcome, per backend",
                )
                .buckets(PROBE_BUCKETS.to_vec()),
                &["backend"],
            )?,
            batch_duration: trickles_netfn::batch_duration_histogram("balancer")?,
            datapath_info: IntGaugeVec::new(
                Opts::new(
                    "trickles_balancer_datapath_info",
                    "1 for the datapath that sees frames first (xdp or userspace)",
                ),
                &["datapath"],
            )?,
            xdp_passed: crate::xdp::counters::passed_counter()?,
            registry,
        };
        for reason in DropReason::ALL {
            metrics.drops.with_label_values(&[reason.name()]);
        }
        for result in ["ok", "error"] {
            metrics.config_reloads.with_label_values(&[result]);
        }
        let r = &metrics.registry;
        r.register(Box::new(metrics.packets.clone()))?;
        r.register(Box::new(metrics.bytes.clone()))?;
        r.register(Box::new(metrics.drops.clone()))?;
        r.register(Box::new(metrics.backend_up.clone()))?;
        r.register(Box::new(metrics.backend_in_table.clone()))?;
        r.register(Box::new(metrics.health_checks.clone()))?;
        r.register(Box::new(metrics.table_rebuilds.clone()))?;
        r.register(Box::new(metrics.backend_unreachables.clone()))?;
        r.register(Box::new(metrics.unreachable_notices.clone()))?;
        r.register(Box::new(metrics.table_moved_share.clone()))?;
        r.register(Box::new(metrics.table_moved_slots.clone()))?;
        r.register(Box::new(metrics.table_build_seconds.clone()))?;
        r.register(Box::new(metrics.backends_in_table.clone()))?;
        r.register(Box::new(metrics.config_reloads.clone()))?;
        r.register(Box::new(metrics.health_check_duration.clone()))?;
        r.register(Box::new(metrics.batch_duration.clone()))?;
        r.register(Box::new(metrics.datapath_info.clone()))?;
        r.register(Box::new(metrics.xdp_passed.clone()))?;
        trickles_netfn::register_standard_metrics(r, "balancer", env!("CARGO_PKG_VERSION"))?;
        Ok(metrics)
    }

    /// Record which datapath sees frames first (`xdp` or `userspace`).
    pub fn set_datapath(&self, xdp: bool) {
        self.datapath_info
            .with_label_values(&["xdp"])
            .set(i64::from(xdp));
        self.datapath_info
            .with_label_values(&["userspace"])
            .set(i64::from(!xdp));
    }

    /// Count a probe outcome.
    pub fn count_probe(&self, backend: &str, outcome: ProbeOutcome) {
        self.health_checks
            .with_label_values(&[backend, outcome.name()])
            .inc();
    }

    /// Per-backend counter handles for the backends of `table` (index = backend index), so a
    /// worker does not look labels up on every flush.
    pub fn backend_handles(&self, table: &ForwardingTable) -> Vec<BackendHandles> {
        table
            .backends
            .iter()
            .map(|b| BackendHandles {
                to_backend_packets: self.packets.with_label_values(&[&b.name, TO_BACKEND]),
                to_backend_bytes: self.bytes.with_label_values(&[&b.name, TO_BACKEND]),
                to_client_packets: self.packets.with_label_values(&[&b.name, TO_CLIENT]),
                to_client_bytes: self.bytes.with_label_values(&[&b.name, TO_CLIENT]),
            })
            .collect()
    }

    /// Datagrams forwarded to or from `backend` in `direction` so far (tests, reports).
    pub fn packets(&self, backend: &str, direction: &str) -> u64 {
        self.packets.with_label_values(&[backend, direction]).get()
    }

    /// Drops for `reason` so far.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.with_label_values(&[reason.name()]).get()
    }

    /// Add and reset one batch's counts.
    pub fn flush(&self, handles: &[BackendHandles], counts: &mut BatchCounts) {
        for (handle, count) in handles.iter().zip(&mut counts.backends) {
            let add = |counter: &IntCounter, n: &mut u64| {
                if *n > 0 {
                    counter.inc_by(*n);
                    *n = 0;
                }
            };
            add(&handle.to_backend_packets, &mut count.to_backend_packets);
            add(&handle.to_backend_bytes, &mut count.to_backend_bytes);
            add(&handle.to_client_packets, &mut count.to_client_packets);
            add(&handle.to_client_bytes, &mut count.to_client_bytes);
        }
        for (reason, n) in DropReason::ALL.iter().zip(&mut counts.drops) {
            if *n > 0 {
                self.drops.with_label_values(&[reason.name()]).inc_by(*n);
                *n = 0;
            }
        }
    }
}

/// Counter handles of one backend.
#[derive(Clone, Debug)]
pub struct BackendHandles {
    to_backend_packets: IntCounter,
    to_backend_bytes: IntCounter,
    to_client_packets: IntCounter,
    to_client_bytes: IntCounter,
}

/// One backend's counts in a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCounts {
    /// Datagrams sent to it.
    pub to_backend_packets: u64,
    /// Their bytes.
    pub to_backend_bytes: u64,
    /// Replies relayed from it.
    pub to_client_packets: u64,
    /// Their bytes.
    pub to_client_bytes: u64,
}

/// One worker's counts since its last flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Per backend (index = backend index of the worker's table).
    pub backends: Vec<BackendCounts>,
    /// Per [`DropReason::ALL`] position.
    pub drops: [u64; DropReason::ALL.len()],
}

impl BatchCounts {
    /// Counts sized for `backends` backends.
    pub fn new(backends: usize) -> Self {
        BatchCounts {
            backends: vec![BackendCounts::default(); backends],
            drops: [0; DropReason::ALL.len()],
        }
    }

    /// Count a drop.
    pub fn drop(&mut self, reason: DropReason) {
        if let Some(i) = DropReason::ALL.iter().position(|r| *r == reason) {
            self.drops[i] += 1;
        }
    }

    /// The counts of `backend` (a no-op sink for an index out of range).
    pub fn backend(&mut self, backend: u32) -> Option<&mut BackendCounts> {
        self.backends.get_mut(backend as usize)
    }
}
