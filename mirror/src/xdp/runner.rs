//! [`XdpMirrorDatapath`]: the mirror's XDP program attached in front of its userspace
//! datapath (which keeps listening: tagged datagrams and WAN-emulated directions reach it).
//!
//! Starting checks, in order, everything that can refuse XDP so the reason is precise: the
//! capabilities, the rules (sizes), specific listen addresses, the verifier, each interface.
//! Then a `trickles_xdp::follower::Follower` writes every newly published [`MirrorRules`] into
//! the maps (a reload; rules the program cannot hold detach it and the userspace datapath
//! carries on) and adds the program's counters to the same `trickles_mirror_*` metrics the
//! workers update, every [`COUNTER_INTERVAL`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_netfn::config::{Published, Subscriber};
use trickles_xdp::follower::Follower;
use trickles_xdp::settings::DatapathConfig;
use trickles_xdp::{privileges, XdpError};

use super::abi::PASS_NAMES;
use super::program::{XdpMirror, XdpMirrorCounters};
use crate::counters::{MirrorCounters, PeerCounters};
use crate::metrics::{MetricsReporter, MirrorMetrics};
use crate::rules::MirrorRules;

/// How often the counters are added to the metrics.
pub const COUNTER_INTERVAL: Duration = Duration::from_millis(25);

/// The running XDP datapath of the mirror.
#[derive(Debug)]
pub struct XdpMirrorDatapath {
    follower: Option<Follower>,
    interfaces: Vec<String>,
}

impl XdpMirrorDatapath {
    /// Load, configure and attach the program for the listen addresses `locals`, following
    /// `rules`.
    pub fn start(
        settings: &DatapathConfig,
        locals: &[SocketAddr],
        rules: Arc<Published<MirrorRules>>,
        metrics: MirrorMetrics,
    ) -> Result<Self, XdpError> {
        if settings.interfaces.is_empty() {
            return Err(XdpError::NoInterface);
        }
        privileges::check_this_process()?;
        XdpMirror::supports(&rules.get())?;
        let mut xdp = XdpMirror::load()?;
        xdp.set_locals(locals)?;
        xdp.set_gateway(settings.gateway_mac.map(|m| m.0))?;
        let rules = Subscriber::new(rules);
        xdp.publish(rules.current())?;
        for interface in &settings.interfaces {
            xdp.attach(interface, settings.mode.aya())?;
        }
        metrics.set_datapath(true);
        let state = Following {
            xdp,
            rules,
            reporter: metrics.reporter(),
            metrics,
            last: XdpMirrorCounters::default(),
            last_flush: Instant::now(),
        };
        let follower = Follower::start("mirror-xdp", state, Following::tick, Following::finish)
            .map_err(|e| XdpError::Unsupported(format!("cannot start its thread: {e}")))?;
        Ok(XdpMirrorDatapath {
            follower: Some(follower),
            interfaces: settings.interfaces.clone(),
        })
    }

    /// The interfaces it is attached to.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Detach the program, flush the last counts and wait for the thread.
    pub fn stop(mut self) {
        if let Some(follower) = self.follower.take() {
            follower.stop();
        }
    }
}

/// What the control thread holds.
struct Following {
    xdp: XdpMirror,
    rules: Subscriber<MirrorRules>,
    metrics: MirrorMetrics,
    reporter: MetricsReporter,
    last: XdpMirrorCounters,
    last_flush: Instant,
}

impl Following {
    fn tick(&mut self) -> bool {
        let previous = self.rules.current().clone();
        if self.rules.refresh() {
            self.flush(&previous);
            if let Err(e) = self.xdp.publish(self.rules.current()) {
                tracing::error!("XDP datapath detached, the userspace datapath carries on: {e}");
                self.metrics.set_datapath(false);
                return false;
            }
        }
        if self.last_flush.elapsed() >= COUNTER_INTERVAL {
            let rules = self.rules.current().clone();
            self.flush(&rules);
            self.last_flush = Instant::now();
            if let Err(e) = self.xdp.set_clock() {
                tracing::warn!("cannot tell the XDP program the time: {e}");
            }
        }
        true
    }

    fn finish(mut self) {
        let rules = self.rules.current().clone();
        self.flush(&rules);
        tracing::info!(interfaces = ?self.xdp.attached(), "XDP datapath detached");
    }

    /// Adds what the program counted since the last flush to the metrics, the forwarded
    /// datagrams under the names of `rules`' peers.
    fn flush(&mut self, rules: &MirrorRules) {
        let Ok(now) = self.xdp.counters() else {
            return;
        };
        let last = &self.last;
        let mut counts = MirrorCounters {
            received_packets: now.received_packets.wrapping_sub(last.received_packets),
            received_bytes: now.received_bytes.wrapping_sub(last.received_bytes),
            ..MirrorCounters::default()
        };
        for (i, r) in counts.rejects.iter_mut().enumerate() {
            *r = now.rejects[i].wrapping_sub(last.rejects[i]);
        }
        for (i, peer) in rules.peers.peers().iter().enumerate() {
            let (packets, bytes) = now.forwarded.get(i).copied().unwrap_or((0, 0));
            let (was_packets, was_bytes) = last.forwarded.get(i).copied().unwrap_or((0, 0));
            if packets > was_packets {
                counts.forwarded.push(PeerCounters {
                    name: Arc::from(peer.name.as_str()),
                    packets: packets - was_packets,
                    bytes: bytes.wrapping_sub(was_bytes),
                });
            }
        }
        self.reporter.report(&counts, (0, 0), 0, 0);
        for (i, name) in PASS_NAMES.iter().enumerate() {
            let n = now.passed[i].wrapping_sub(last.passed[i]);
            if n > 0 {
                self.metrics.xdp_passed.with_label_values(&[name]).inc_by(n);
            }
        }
        self.last = now;
    }
}
