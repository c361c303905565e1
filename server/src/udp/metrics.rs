//! Counters of the UDP driver, named `trickles_server_*`.
//!
//! Worker threads count into a private [`BatchCounts`] and add it to the shared Prometheus
//! counters once per batch, so many workers do not fight over the same atomic cache lines on
//! every packet.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use trickles::server::DropReason;

/// Drop reason of a datagram longer than the driver's receive buffer.
pub const TRUNCATED: &str = "truncated";
/// Drop reason of a datagram from neither an IPv4 nor an IPv6 address.
pub const UNKNOWN_ADDRESS_FAMILY: &str = "address_family";

/// Where a reply to a DIRECT_RETURN request left from (`direct_replies_total{source}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectReplySource {
    /// The configured VIP ([`super::direct_return`]).
    Vip,
    /// The listen socket: no VIP of the client's family is configured.
    OwnAddress,
}

impl DirectReplySource {
    /// Both, in label order.
    pub const ALL: [DirectReplySource; 2] = [DirectReplySource::Vip, DirectReplySource::OwnAddress];

    /// The `source` label.
    pub fn name(self) -> &'static str {
        match self {
            DirectReplySource::Vip => "vip",
            DirectReplySource::OwnAddress => "own_address",
        }
    }
}

/// Every drop reason label: the core's `DropReason` names and the driver's own two. Each is
/// pre-created with a zero value so dashboards see every series from the start.
pub fn drop_reason_names() -> impl Iterator<Item = &'static str> {
    DropReason::ALL
        .iter()
        .map(DropReason::name)
        .chain([TRUNCATED, UNKNOWN_ADDRESS_FAMILY])
        .chain([
            super::balancer_relay::UNTRUSTED_ENCAP,
            super::balancer_relay::MALFORMED_ENCAP,
        ])
        .chain(
            trickles_netfn::hop_auth::HopRefusal::ALL
                .iter()
                .map(|r| r.name()),
        )
}

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
    /// `trickles_server_direct_replies_total{source}`: replies to DIRECT_RETURN requests by
    /// the address they left from (`vip`, `own_address`).
    pub direct_replies: IntCounterVec,
    /// `trickles_server_soft_state_bytes`: the process's replay filter (constant in the
    /// number of clients: the point of Trickles).
    pub soft_state_bytes: IntGauge,
    /// `trickles_server_replay_*`: the replay filter's load ([`super::replay_watch`]).
    pub replay: super::replay_watch::ReplayMetrics,
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
            direct_replies: IntCounterVec::new(
                Opts::new(
                    "trickles_server_direct_replies_total",
                    "Replies to direct-return requests, by the address they left from",
                ),
                &["source"],
            )?,
            soft_state_bytes: IntGauge::new(
                "trickles_server_soft_state_bytes",
                "Bytes of soft state (the replay filter) held by the UDP workers",
            )?,
            replay: super::replay_watch::ReplayMetrics::new()?,
        };
        for reason in drop_reason_names() {
            metrics.continuations_rejected.with_label_values(&[reason]);
        }
        for source in DirectReplySource::ALL {
            metrics.direct_replies.with_label_values(&[source.name()]);
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
        registry.register(Box::new(self.direct_replies.clone()))?;
        registry.register(Box::new(self.soft_state_bytes.clone()))?;
        self.replay.register(registry)?;
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
        for (source, n) in DirectReplySource::ALL
            .into_iter()
            .zip(counts.direct_replies)
        {
            if n > 0 {
                self.direct_replies
                    .with_label_values(&[source.name()])
                    .inc_by(n);
            }
        }
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
    /// Replies to DIRECT_RETURN requests, indexed as [`DirectReplySource::ALL`].
    pub direct_replies: [u64; 2],
    /// Dropped datagrams by reason (few distinct reasons, so a short list).
    pub rejected: Vec<(&'static str, u64)>,
}

impl BatchCounts {
    /// Count `replies` replies to a DIRECT_RETURN request, sent from `source`.
    pub fn direct_replies(&mut self, source: DirectReplySource, replies: usize) {
        let index = match source {
            DirectReplySource::Vip => 0,
            DirectReplySource::OwnAddress => 1,
        };
        self.direct_replies[index] += replies as u64;
    }

    /// Count one dropped datagram.
    pub fn reject(&mut self, reason: &'static str) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
    }
}
