//! [`XdpDatapath`]: the XDP program attached in front of the userspace datapath, fed by the
//! same control plane.
//!
//! Starting checks everything that can refuse XDP, in order, so the reason is precise: the
//! binary carries the program, the process has the capabilities, the configuration is one the
//! program implements (Maglev, sizes, specific VIP addresses), the verifier accepts it, and
//! every interface takes it in the configured mode. Then a thread (`balancer-xdp`) follows
//! the published [`ForwardingTable`] (a `trickles_xdp::follower::Follower`): a new table (health change, reload) is written into the
//! idle generation and flipped, without detaching; the per-CPU counters are added to the
//! userspace datapath's metrics every [`COUNTER_INTERVAL`] and before each table change. A
//! table the program cannot hold (a reload to a spraying policy) detaches it: the userspace
//! datapath, still listening on the VIP, carries on, and the log says why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntCounterVec;
use trickles_netfn::{Published, Subscriber};
use trickles_xdp::follower::Follower;

use super::counters::CounterSnapshot;
use super::error::XdpError;
use super::privileges;
use super::program::XdpBalancer;
use super::settings::DatapathConfig;
use crate::core::ForwardingTable;
use crate::metrics::BalancerMetrics;

/// How often the counters are added to the metrics.
pub const COUNTER_INTERVAL: Duration = Duration::from_millis(25);

/// The running XDP datapath.
pub struct XdpDatapath {
    follower: Option<Follower>,
    interfaces: Vec<String>,
}

impl std::fmt::Debug for XdpDatapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpDatapath")
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

impl XdpDatapath {
    /// Load, configure and attach the program for the VIPs `vips` (the bound listen
    /// addresses), following `table`.
    pub fn start(
        settings: &DatapathConfig,
        vips: &[SocketAddr],
        table: Arc<Published<ForwardingTable>>,
        metrics: BalancerMetrics,
    ) -> Result<Self, XdpError> {
        if settings.interfaces.is_empty() {
            return Err(XdpError::NoInterface);
        }
        privileges::check_this_process()?;
        XdpBalancer::supports(&table.get())?;
        if let Some(vip) = vips.iter().find(|v| v.ip().is_unspecified()) {
            return Err(XdpError::Unsupported(format!(
                "listen address {vip}: the XDP program matches frames by their destination, \
                 give the VIP itself"
            )));
        }
        let mut xdp = XdpBalancer::load()?;
        xdp.set_vips(vips)?;
        xdp.set_gateway(settings.gateway_mac.map(|m| m.0))?;
        let tables = Subscriber::new(table);
        xdp.publish(tables.current())?;
        for interface in &settings.interfaces {
            xdp.attach(interface, settings.mode.aya())?;
        }
        metrics.set_datapath(true);
        let state = Following {
            xdp,
            tables,
            passed: metrics.xdp_passed.clone(),
            metrics,
            last: CounterSnapshot::new(0),
            last_flush: Instant::now(),
        };
        let follower =
            Follower::start("balancer-xdp", state, Following::tick, Following::finish)
                .map_err(|e| XdpError::Unsupported(format!("cannot start its thread: {e}")))?;
        Ok(XdpDatapath {
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

/// Adds the counts since `last` to the metrics; returns the new snapshot.
fn flush(
    xdp: &XdpBalancer,
    table: &ForwardingTable,
    metrics: &BalancerMetrics,
    passed: &IntCounterVec,
    last: &CounterSnapshot,
) -> CounterSnapshot {
    let Ok(now) = xdp.counters(table.backends.len()) else {
        return last.clone();
    };
    let (mut batch, passes) = now.since(last);
    let handles = metrics.backend_handles(table);
    metrics.flush(&handles, &mut batch);
    for (name, n) in super::abi::PASS_NAMES.iter().zip(passes) {
        if n > 0 {
            passed.with_label_values(&[name]).inc_by(n);
        }
    }
    now
}

/// What the control thread holds.
struct Following {
    xdp: XdpBalancer,
    tables: Subscriber<ForwardingTable>,
    metrics: BalancerMetrics,
    passed: IntCounterVec,
    last: CounterSnapshot,
    last_flush: Instant,
}

impl Following {
    fn tick(&mut self) -> bool {
        let previous = self.tables.current().clone();
        if self.tables.refresh() {
            // Counts so far belong to the old table's backends.
            self.last = flush(
                &self.xdp,
                &previous,
                &self.metrics,
                &self.passed,
                &self.last,
            );
            if let Err(e) = self.xdp.publish(self.tables.current()) {
                tracing::error!("XDP datapath detached, the userspace datapath carries on: {e}");
                self.metrics.set_datapath(false);
                return false; // dropping `xdp` detaches the program
            }
        }
        if self.last_flush.elapsed() >= COUNTER_INTERVAL {
            let table = self.tables.current();
            self.last = flush(&self.xdp, table, &self.metrics, &self.passed, &self.last);
            self.last_flush = Instant::now();
        }
        true
    }

    fn finish(self) {
        flush(
            &self.xdp,
            self.tables.current(),
            &self.metrics,
            &self.passed,
            &self.last,
        );
        tracing::info!(interfaces = ?self.xdp.attached(), "XDP datapath detached");
    }
}
