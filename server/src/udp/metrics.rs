//! Counters of the UDP driver, named `trickles_server_*`.
//!
//! Worker threads count into a private [`BatchCounts`] and add it to the shared Prometheus
//! counters once per batch, so many workers do not fight over the same atomic cache lines on
//! every packet.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Drop reasons pre-created with a zero value, so dashboards see every series from the start.
/// These are the names of the core's `DropReason`s plus the driver's own `truncated`.
pub const KNOWN_DROP_REASONS: &[&str] = &[
    "malformed",
    "version",
    "mac",
    "epoch",
    "stale",
    "replay",
    "proof",
    "too_early",
    "app",
    TRUNCATED,
];

/// Drop reason of a datagram longer than the driver's receive buffer.
pub const TRUNCATED: &str = "truncated";

/// The UDP driver's counters (registered in [`crate::metrics::ServerMetrics`]).
#[derive(Clone, Debug)]
pub struct UdpMetrics {
    /// `trickles_server_packets_received_total`
    pub packets_received: IntCounter,
    /// `trickles_server_packets_sent_total`
    pub packets_sent: IntCounter,
    /// `trickles_server_bytes_received_total` (UDP payload bytes)
    pub bytes_received: IntCounter,
    /// `trickles_server_bytes_sent_total` (UDP payload bytes)
    pub bytes_sent: IntCounter,
    /// `trickles_server_continuations_verified_total`
    pub continuations_verified: IntCounter,
    /// `trickles_server_continuations_rejected_total{reason}`
    pub continuations_rejected: IntCounterVec,
    /// `trickles_server_hellos_total`
    pub hellos: IntCounter,
    /// `trickles_server_send_errors_total`
    pub send_errors: IntCounter,
}

impl UdpMetrics {
    /// Fresh, unregistered counters.
    pub fn new() -> prometheus::Result<Self> {
        let metrics = UdpMetrics {
            packets_received: IntCounter::new(
                "trickles_server_packets_received_total",
                "UDP datagrams received",
            )?,
            packets_sent: IntCounter::new(
                "trickles_server_packets_sent_total",
                "UDP datagrams sent",
            )?,
            bytes_received: IntCounter::new(
                "trickles_server_bytes_received_total",
                "UDP payload bytes received",
            )?,
            bytes_sent: IntCounter::new(
                "trickles_server_bytes_sent_total",
                "UDP payload bytes sent",
            )?,
            continuations_verified: IntCounter::new(
                "trickles_server_continuations_verified_total",
                "Requests whose continuation was verified and answered",
            )?,
            continuations_rejected: IntCounterVec::new(
                Opts::new(
                    "trickles_server_continuations_rejected_total",
                    "Datagrams dropped, by reason",
                ),
                &["reason"],
            )?,
            hellos: IntCounter::new(
                "trickles_server_hellos_total",
                "Connection-opening HELLO requests answered",
            )?,
            send_errors: IntCounter::new(
                "trickles_server_send_errors_total",
                "UDP datagrams the kernel refused to send",
            )?,
        };
        for reason in KNOWN_DROP_REASONS {
            metrics.continuations_rejected.with_label_values(&[reason]);
        }
        Ok(metrics)
    }

    /// Register every counter in `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.packets_received.clone()))?;
        registry.register(Box::new(self.packets_sent.clone()))?;
        registry.register(Box::new(self.bytes_received.clone()))?;
        registry.register(Box::new(self.bytes_sent.clone()))?;
        registry.register(Box::new(self.continuations_verified.clone()))?;
        registry.register(Box::new(self.continuations_rejected.clone()))?;
        registry.register(Box::new(self.hellos.clone()))?;
        registry.register(Box::new(self.send_errors.clone()))?;
        Ok(())
    }

    /// Add one batch's counts and reset them.
    pub fn flush(&self, counts: &mut BatchCounts) {
        let add = |counter: &IntCounter, n: u64| {
            if n > 0 {
                counter.inc_by(n);
            }
        };
        add(&self.packets_received, counts.packets_received);
        add(&self.packets_sent, counts.packets_sent);
        add(&self.bytes_received, counts.bytes_received);
        add(&self.bytes_sent, counts.bytes_sent);
        add(&self.continuations_verified, counts.continuations_verified);
        add(&self.hellos, counts.hellos);
        add(&self.send_errors, counts.send_errors);
        for (reason, n) in counts.rejected.drain(..) {
            self.continuations_rejected
                .with_label_values(&[reason])
                .inc_by(n);
        }
        *counts = BatchCounts::default();
    }
}

/// One worker's counts since its last flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Datagrams received.
    pub packets_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Requests with a verified continuation.
    pub continuations_verified: u64,
    /// HELLOs answered.
    pub hellos: u64,
    /// Datagrams the kernel refused to send.
    pub send_errors: u64,
    /// Dropped datagrams by reason (few distinct reasons, so a short list).
    pub rejected: Vec<(&'static str, u64)>,
}

impl BatchCounts {
    /// Count one dropped datagram.
    pub fn reject(&mut self, reason: &'static str) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
    }
}
