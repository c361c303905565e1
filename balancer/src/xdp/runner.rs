//! [`XdpDatapath`]: the XDP program attached in front of the userspace datapath, fed by the
//! same control plane.
//!
//! Starting checks everything that can refuse XDP, in order, so the reason is precise: the
//! binary carries the program, the process has the capabilities, the configuration is one the
//! program implements (Maglev, sizes, specific VIP addresses), the verifier accepts it, and
//! every interface takes it in the configured mode. Then a thread (`balancer-xdp`) follows
//! the published [`ForwardingTable`]: a new table (health change, reload) is written into the
//! idle generation and flipped, without detaching; the per-CPU counters are added to the
//! userspace datapath's metrics every [`COUNTER_INTERVAL`] and before each table change. A
//! table the program cannot hold (a reload to a spraying policy) detaches it: the userspace
//! datapath, still listening on the VIP, carries on, and the log says why.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus::IntCounterVec;
use trickles_netfn::{Published, Subscriber};

use super::counters::CounterSnapshot;
use super::error::XdpError;
use super::privileges;
use super::program::XdpBalancer;
use super::settings::DatapathConfig;
use crate::core::ForwardingTable;
use crate::metrics::BalancerMetrics;

/// How often the thread looks for a new table.
pub const TABLE_POLL: Duration = Duration::from_millis(10);
/// How often the counters are added to the metrics.
pub const COUNTER_INTERVAL: Duration = Duration::from_millis(25);

/// The running XDP datapath.
pub struct XdpDatapath {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        let passed = metrics.xdp_passed.clone();
        metrics.set_datapath(true);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("balancer-xdp".into())
                .spawn(move || follow(xdp, tables, metrics, passed, &stop))
                .map_err(|e| XdpError::Unsupported(format!("cannot start its thread: {e}")))?
        };
        Ok(XdpDatapath {
            stop,
            thread: Some(thread),
            interfaces: settings.interfaces.clone(),
        })
    }

    /// The interfaces it is attached to.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Detach the program, flush the last counts and wait for the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the XDP control thread panicked");
            }
        }
    }
}

impl Drop for XdpDatapath {
    fn drop(&mut self) {
        self.halt();
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

fn follow(
    mut xdp: XdpBalancer,
    mut tables: Subscriber<ForwardingTable>,
    metrics: BalancerMetrics,
    passed: IntCounterVec,
    stop: &AtomicBool,
) {
    let mut last = CounterSnapshot::new(0);
    let mut last_flush = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TABLE_POLL);
        let previous = tables.current().clone();
        if tables.refresh() {
            // Counts so far belong to the old table's backends.
            last = flush(&xdp, &previous, &metrics, &passed, &last);
            if let Err(e) = xdp.publish(tables.current()) {
                tracing::error!("XDP datapath detached, the userspace datapath carries on: {e}");
                metrics.set_datapath(false);
                return; // dropping `xdp` detaches the program
            }
        }
        if last_flush.elapsed() >= COUNTER_INTERVAL {
            last = flush(&xdp, tables.current(), &metrics, &passed, &last);
            last_flush = Instant::now();
        }
    }
    flush(&xdp, tables.current(), &metrics, &passed, &last);
    tracing::info!(interfaces = ?xdp.attached(), "XDP datapath detached");
}
