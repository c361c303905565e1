//! The mirror's Prometheus metrics, declared and registered in one place, and the per-worker
//! [`MetricsReporter`] that adds a worker's [`MirrorCounters`] to them once per batch.
//!
//! | metric | meaning |
//! | --- | --- |
//! | `trickles_mirror_received_packets_total` | datagrams received |
//! | `trickles_mirror_received_bytes_total` | their bytes |
//! | `trickles_mirror_forwarded_packets_total{peer}` | datagrams emitted on behalf of a configured peer (duplicates included) |
//! | `trickles_mirror_forwarded_bytes_total{peer}` | their bytes |
//! | `trickles_mirror_rejects_total{reason}` | datagrams refused: `malformed`, `truncated`, `address_family`, `unknown_source`, `missing_tag`, `unknown_key`, `bad_tag`, `stale_tag`, `destination_not_allowed`, `loop`, `rate_limited`, `amplification` |
//! | `trickles_mirror_emulated_drops_total{direction,cause}` | lost on the emulated path: `bottleneck_full`, `random_loss`, `burst_loss`, `delay_queue_full`, `duplicate_over_budget`; direction `to_server` / `to_client` |
//! | `trickles_mirror_duplicates_total{direction}` | extra copies emitted by emulated duplication |
//! | `trickles_mirror_delay_queue_packets` | datagrams held for their emulated delay (all workers) |
//! | `trickles_mirror_delay_queue_bytes` | their bytes |
//! | `trickles_mirror_send_errors_total` | datagrams the kernel refused to send |
//! | `trickles_mirror_source_evictions_total` | per-source slots taken over by another source |
//! | `trickles_mirror_config_reloads_total{result}` | reloads, `ok` or `error` |
//! | `trickles_mirror_batch_duration_seconds` | histogram: a worker's time per received batch ([`trickles_netfn::batch_histogram`]) |
//! | `trickles_mirror_datapath_info{datapath}` | 1 for the datapath that sees frames first: `xdp` or `userspace` |
//! | `trickles_mirror_xdp_passed_total{reason}` | frames for the mirror the XDP datapath handed up to the userspace datapath ([`crate::xdp`]; 0 without it) |
//! | `trickles_mirror_build_info{version,profile}`, `process_*` | [`trickles_netfn::standard_metrics`] |

use std::sync::Arc;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::counters::MirrorCounters;
use crate::reject::{EmulatedDrop, Reject};
use crate::wan::Direction;

/// Every metric of `trickles-mirror`.
#[derive(Clone, Debug)]
pub struct MirrorMetrics {
    /// The registry the endpoint renders.
    pub registry: Registry,
    received_packets: IntCounter,
    received_bytes: IntCounter,
    forwarded_packets: IntCounterVec,
    forwarded_bytes: IntCounterVec,
    rejects: IntCounterVec,
    emulated_drops: IntCounterVec,
    duplicates: IntCounterVec,
    delay_queue_packets: IntGauge,
    delay_queue_bytes: IntGauge,
    send_errors: IntCounter,
    source_evictions: IntCounter,
    reloads: IntCounterVec,
    batch_duration: Histogram,
    /// `trickles_mirror_datapath_info{datapath}`: 1 for the datapath that sees frames first.
    pub datapath_info: IntGaugeVec,
    /// `trickles_mirror_xdp_passed_total{reason}`: frames the XDP datapath handed up.
    pub xdp_passed: IntCounterVec,
}

fn counter(name: &str, help: &str) -> prometheus::Result<IntCounter> {
    IntCounter::new(name, help)
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

impl MirrorMetrics {
    /// Create and register every metric in a new registry.
    pub fn new() -> prometheus::Result<Self> {
        let metrics = MirrorMetrics {
            datapath_info: IntGaugeVec::new(
                Opts::new(
                    "trickles_mirror_datapath_info",
                    "1 for the datapath that sees frames first (xdp or userspace)",
                ),
                &["datapath"],
            )?,
            xdp_passed: counter_vec(
                "trickles_mirror_xdp_passed_total",
                "Frames for the mirror the XDP datapath handed up to the userspace datapath, by reason",
                &["reason"],
            )?,
            registry: Registry::new(),
            received_packets: counter(
                "trickles_mirror_received_packets_total",
                "Datagrams received.",
            )?,
            received_bytes: counter(
                "trickles_mirror_received_bytes_total",
                "Bytes of datagrams received.",
            )?,
            forwarded_packets: counter_vec(
                "trickles_mirror_forwarded_packets_total",
                "Datagrams emitted on behalf of a peer.",
                &["peer"],
            )?,
            forwarded_bytes: counter_vec(
                "trickles_mirror_forwarded_bytes_total",
                "Bytes emitted on behalf of a peer.",
                &["peer"],
            )?,
            rejects: counter_vec(
                "trickles_mirror_rejects_total",
                "Datagrams refused, by reason.",
                &["reason"],
            )?,
            emulated_drops: counter_vec(
                "trickles_mirror_emulated_drops_total",
                "Datagrams lost on the emulated path, by direction and cause.",
                &["direction", "cause"],
            )?,
            duplicates: counter_vec(
                "trickles_mirror_duplicates_total",
                "Extra copies emitted by emulated duplication.",
                &["direction"],
            )?,
            delay_queue_packets: IntGauge::new(
                "trickles_mirror_delay_queue_packets",
                "Datagrams held for their emulated delay.",
            )?,
            delay_queue_bytes: IntGauge::new(
                "trickles_mirror_delay_queue_bytes",
                "Bytes held for their emulated delay.",
            )?,
            send_errors: counter(
                "trickles_mirror_send_errors_total",
                "Datagrams the kernel refused to send.",
            )?,
            source_evictions: counter(
                "trickles_mirror_source_evictions_total",
                "Per-source table slots taken over by another source.",
            )?,
            reloads: counter_vec(
                "trickles_mirror_config_reloads_total",
                "Configuration reloads, by result.",
                &["result"],
            )?,
            batch_duration: trickles_netfn::batch_duration_histogram("mirror")?,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.received_packets.clone()))?;
        r.register(Box::new(metrics.received_bytes.clone()))?;
        r.register(Box::new(metrics.forwarded_packets.clone()))?;
        r.register(Box::new(metrics.forwarded_bytes.clone()))?;
        r.register(Box::new(metrics.rejects.clone()))?;
        r.register(Box::new(metrics.emulated_drops.clone()))?;
        r.register(Box::new(metrics.duplicates.clone()))?;
        r.register(Box::new(metrics.delay_queue_packets.clone()))?;
        r.register(Box::new(metrics.delay_queue_bytes.clone()))?;
        r.register(Box::new(metrics.send_errors.clone()))?;
        r.register(Box::new(metrics.source_evictions.clone()))?;
        r.register(Box::new(metrics.reloads.clone()))?;
        r.register(Box::new(metrics.batch_duration.clone()))?;
        r.register(Box::new(metrics.datapath_info.clone()))?;
        r.register(Box::new(metrics.xdp_passed.clone()))?;
        for reason in crate::xdp::abi::PASS_NAMES {
            metrics.xdp_passed.with_label_values(&[reason]);
        }
        metrics.set_datapath(false);
        trickles_netfn::register_standard_metrics(r, "mirror", env!("CARGO_PKG_VERSION"))?;
        // Make every reason and cause visible at 0 from the start.
        for result in ["ok", "error"] {
            metrics.reloads.with_label_values(&[result]);
        }
        for reason in Reject::ALL {
            metrics.rejects.with_label_values(&[reason.name()]);
        }
        for direction in Direction::ALL {
            for cause in EmulatedDrop::ALL {
                metrics
                    .emulated_drops
                    .with_label_values(&[direction.name(), cause.name()]);
            }
            metrics.duplicates.with_label_values(&[direction.name()]);
        }
        Ok(metrics)
    }

    /// Count a configuration reload.
    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Record the time a worker spent on one received batch.
    pub fn observe_batch(&self, spent: std::time::Duration) {
        self.batch_duration.observe(spent.as_secs_f64());
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

    /// A reporter for one worker.
    pub fn reporter(&self) -> MetricsReporter {
        MetricsReporter {
            rejects: Reject::ALL.map(|r| self.rejects.with_label_values(&[r.name()])),
            emulated_drops: Direction::ALL.map(|d| {
                EmulatedDrop::ALL
                    .map(|c| self.emulated_drops.with_label_values(&[d.name(), c.name()]))
            }),
            duplicates: Direction::ALL.map(|d| self.duplicates.with_label_values(&[d.name()])),
            peers: Vec::new(),
            reported_depth: (0, 0),
            reported_evictions: 0,
            metrics: self.clone(),
        }
    }
}

/// One worker's handles on the metrics, so that adding a batch's counts looks nothing up by
/// label except for a peer seen for the first time.
#[derive(Debug)]
pub struct MetricsReporter {
    metrics: MirrorMetrics,
    rejects: [IntCounter; Reject::COUNT],
    emulated_drops: [[IntCounter; EmulatedDrop::COUNT]; 2],
    duplicates: [IntCounter; 2],
    peers: Vec<(Arc<str>, IntCounter, IntCounter)>,
    reported_depth: (i64, i64),
    reported_evictions: u64,
}

impl MetricsReporter {
    /// Add a batch's counts, the worker's current delay-queue depth and its guard's eviction
    /// total.
    pub fn report(
        &mut self,
        counts: &MirrorCounters,
        depth: (usize, usize),
        evictions: u64,
        send_errors: u64,
    ) {
        add(&self.metrics.received_packets, counts.received_packets);
        add(&self.metrics.received_bytes, counts.received_bytes);
        for (counter, &n) in self.rejects.iter().zip(&counts.rejects) {
            add(counter, n);
        }
        for (counters, ns) in self.emulated_drops.iter().zip(&counts.emulated_drops) {
            for (counter, &n) in counters.iter().zip(ns) {
                add(counter, n);
            }
        }
        for (counter, &n) in self.duplicates.iter().zip(&counts.duplicates) {
            add(counter, n);
        }
        for peer in &counts.forwarded {
            let index = match self.peers.iter().position(|(name, ..)| *name == peer.name) {
                Some(i) => i,
                None => {
                    let labels = [&*peer.name];
                    self.peers.push((
                        peer.name.clone(),
                        self.metrics.forwarded_packets.with_label_values(&labels),
                        self.metrics.forwarded_bytes.with_label_values(&labels),
                    ));
                    self.peers.len() - 1
                }
            };
            add(&self.peers[index].1, peer.packets);
            add(&self.peers[index].2, peer.bytes);
        }
        add(&self.metrics.send_errors, send_errors);
        let depth = (
            i64::try_from(depth.0).unwrap_or(i64::MAX),
            i64::try_from(depth.1).unwrap_or(i64::MAX),
        );
        self.metrics
            .delay_queue_packets
            .add(depth.0 - self.reported_depth.0);
        self.metrics
            .delay_queue_bytes
            .add(depth.1 - self.reported_depth.1);
        self.reported_depth = depth;
        add(
            &self.metrics.source_evictions,
            evictions.saturating_sub(self.reported_evictions),
        );
        self.reported_evictions = self.reported_evictions.max(evictions);
    }
}

impl Drop for MetricsReporter {
    /// A stopped worker holds nothing any more.
    fn drop(&mut self) {
        self.metrics.delay_queue_packets.sub(self.reported_depth.0);
        self.metrics.delay_queue_bytes.sub(self.reported_depth.1);
    }
}

fn add(counter: &IntCounter, n: u64) {
    if n > 0 {
        counter.inc_by(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_counts_reach_the_rendered_metrics() {
        let metrics = MirrorMetrics::new().expect("metrics");
        let mut reporter = metrics.reporter();
        let mut counts = MirrorCounters {
            received_packets: 3,
            ..MirrorCounters::default()
        };
        counts.reject(Reject::UnknownSource);
        counts.emulated_drop(Direction::ToClient, EmulatedDrop::BurstLoss);
        counts.forwarded(&Arc::from("vip"), 1200);
        reporter.report(&counts, (5, 6000), 0, 0);
        reporter.report(&counts, (2, 2400), 1, 0);
        let text = trickles_netfn::render(&metrics.registry);
        for line in [
            "trickles_mirror_received_packets_total 6",
            "trickles_mirror_rejects_total{reason=\"unknown_source\"} 2",
            "trickles_mirror_rejects_total{reason=\"bad_tag\"} 0",
            "trickles_mirror_emulated_drops_total{cause=\"burst_loss\",direction=\"to_client\"} 2",
            "trickles_mirror_forwarded_bytes_total{peer=\"vip\"} 2400",
            "trickles_mirror_delay_queue_packets 2",
            "trickles_mirror_source_evictions_total 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        drop(reporter);
        let text = trickles_netfn::render(&metrics.registry);
        assert!(text.contains("trickles_mirror_delay_queue_packets 0"));
    }
}
