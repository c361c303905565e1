//! The control plane: one probe task per backend and the controller task that owns the
//! [`PoolState`], rebuilds the [`ForwardingTable`] when health or configuration changes,
//! publishes it to the datapath and keeps the table metrics.
//!
//! Probe tasks send their outcomes to the controller over a channel, tagged with the
//! configuration epoch they were started for; a reload stops them and starts new ones, and
//! late outcomes of the old epoch are ignored. A backend is probed once right away, then every
//! `interval`: a crashed replica is out of the table at its next probe (a refused probe takes
//! it out at once), so within one interval of the crash. Sooner when the datapath hears the
//! backend's host say "port unreachable" for a forwarded request
//! ([`ControlMessage::Unreachable`]): that backend is probed at once, at most once per
//! [`MIN_KICK_GAP`], so forged errors cost at most that many probes of a healthy backend. Such a
//! probe waits only four times the backend's last answer (at least
//! [`MIN_KICKED_PROBE_TIMEOUT`]), and its silence counts as refused: the host's own "port
//! unreachable" for the probe is usually rate-limited away by then (Linux sends 6 to a host, then
//! one a second, and the forwarded requests used them up), and waiting out the configured
//! timeout and `fall` misses kept a dead replica in the table ~100 ms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use trickles_netfn::Published;

use crate::config::{BalancerConfig, ProbeKind};
use crate::core::{ForwardingTable, ProbeOutcome, Transition};
use crate::metrics::BalancerMetrics;
use crate::pool::PoolState;
use crate::probe::{probe_http, probe_udp};

/// What the controller is told.
#[derive(Debug)]
pub enum ControlMessage {
    /// A probe finished.
    Probe {
        /// Configuration epoch of the prober.
        epoch: u64,
        /// Backend name.
        backend: String,
        /// Its outcome.
        outcome: ProbeOutcome,
    },
    /// A new (validated) configuration to apply.
    Apply(Box<BalancerConfig>),
    /// The datapath heard "destination unreachable" for a datagram it sent to this backend
    /// address: probe it now.
    Unreachable(SocketAddr),
}

/// The shortest time between two probes of one backend that [`ControlMessage::Unreachable`]
/// asks for.
pub const MIN_KICK_GAP: Duration = Duration::from_millis(20);

/// How long a probe asked for by an unreachable waits: four times the backend's last answer
/// (at least [`MIN_KICKED_PROBE_TIMEOUT`]), never longer than the configured timeout. A backend
/// whose host just said "unreachable" and that does not answer as fast as it used to is taken
/// for gone; a live one answers, and a forged unreachable costs nothing else.
fn kicked_probe_timeout(timeout: Duration, answered_in: Option<Duration>) -> Duration {
    answered_in.map_or(timeout, |rtt| {
        (rtt * 4).max(MIN_KICKED_PROBE_TIMEOUT).min(timeout)
    })
}

/// The shortest wait of a probe asked for by an unreachable.
pub const MIN_KICKED_PROBE_TIMEOUT: Duration = Duration::from_millis(10);

/// A running prober: its task, its backend's address, and the way to make it probe now.
struct Prober {
    task: JoinHandle<()>,
    address: SocketAddr,
    kick: Arc<Notify>,
}

/// Start probing every backend of `config`.
fn spawn_probers(
    config: &BalancerConfig,
    epoch: u64,
    inbox: &mpsc::UnboundedSender<ControlMessage>,
    metrics: &BalancerMetrics,
) -> Vec<Prober> {
    config
        .backends
        .iter()
        .map(|backend| {
            let kick = Arc::new(Notify::new());
            let kicked = kick.clone();
            let name = backend.name.clone();
            let kind = config.health.probe;
            let target = match kind {
                ProbeKind::Udp => backend.address,
                ProbeKind::Http => backend.health_address.unwrap_or(backend.address),
            };
            let (interval, timeout) = (config.health.interval, config.health.timeout);
            let inbox = inbox.clone();
            let latency = metrics.health_check_duration.with_label_values(&[&name]);
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last: Option<Instant> = None;
                let mut answered_in: Option<Duration> = None;
                loop {
                    let kick = tokio::select! {
                        _ = ticks.tick() => false,
                        _ = kicked.notified() => {
                            if let Some(wait) = last.map(|at| MIN_KICK_GAP.saturating_sub(at.elapsed())) {
                                tokio::time::sleep(wait).await;
                            }
                            true
                        }
                    };
                    let started = Instant::now();
                    last = Some(started);
                    let wait = if kick { kicked_probe_timeout(timeout, answered_in) } else { timeout };
                    let mut outcome = match kind {
                        ProbeKind::Udp => probe_udp(target, wait).await,
                        ProbeKind::Http => probe_http(target, wait).await,
                    };
                    if outcome == ProbeOutcome::Success {
                        answered_in = Some(started.elapsed());
                    } else if kick && outcome == ProbeOutcome::Timeout {
                        // Its host said "unreachable" and now the backend is silent: the host's
                        // answer to the probe was rate-limited away (Linux: 6 to a host, then 1 a
                        // second, used up by the forwarded requests), not the backend slow.
                        outcome = ProbeOutcome::Refused;
                    }
                    latency.observe(started.elapsed().as_secs_f64());
                    let report = ControlMessage::Probe {
                        epoch,
                        backend: name.clone(),
                        outcome,
                    };
                    if inbox.send(report).is_err() {
                        return;
                    }
                }
            });
            Prober {
                task,
                address: backend.address,
                kick,
            }
        })
        .collect()
}

/// The controller's side of publishing.
pub struct Controller {
    state: PoolState,
    table: Arc<Published<ForwardingTable>>,
    metrics: BalancerMetrics,
    /// Tells waiters that every backend had its first probe.
    first_round: watch::Sender<bool>,
}

impl Controller {
    /// A controller for `state`, publishing into `table`.
    pub fn new(
        state: PoolState,
        table: Arc<Published<ForwardingTable>>,
        metrics: BalancerMetrics,
        first_round: watch::Sender<bool>,
    ) -> Self {
        Controller {
            state,
            table,
            metrics,
            first_round,
        }
    }

    /// Rebuild and publish the table; update the table and backend metrics.
    pub fn publish(&mut self) {
        let started = Instant::now();
        let table = match self.state.table() {
            Ok(t) => t,
            Err(e) => {
                // Validation excludes this; keep the table in force.
                tracing::error!(error = %e, "cannot build the forwarding table");
                return;
            }
        };
        let built = started.elapsed();
        let previous = self.table.get();
        let share = previous.maglev().moved_share(table.maglev());
        let slots = (share * table.maglev().size().max(previous.maglev().size()) as f64).round();
        let m = &self.metrics;
        m.table_build_seconds.set(built.as_secs_f64());
        m.table_moved_share.set(share);
        m.table_moved_slots.inc_by(slots as u64);
        m.table_rebuilds.inc();
        m.backends_in_table.set(table.active().len() as i64);
        for b in &table.backends {
            m.backend_up
                .with_label_values(&[&b.name])
                .set(i64::from(b.up));
            m.backend_in_table
                .with_label_values(&[&b.name])
                .set(i64::from(b.in_table()));
        }
        tracing::info!(
            in_table = table.active().len(),
            backends = table.backends.len(),
            moved_share = share,
            build_ms = built.as_secs_f64() * 1e3,
            "forwarding table published"
        );
        self.table.publish(table);
    }

    /// Handle one probe outcome (of the current epoch).
    fn on_probe(&mut self, backend: &str, outcome: ProbeOutcome) {
        self.metrics.count_probe(backend, outcome);
        match self.state.observe(backend, outcome) {
            Some(Transition::WentUp) => {
                tracing::info!(backend, "backend up");
                self.publish();
            }
            Some(Transition::WentDown) => {
                tracing::warn!(backend, outcome = outcome.name(), "backend down");
                self.publish();
            }
            None => {}
        }
        if self.state.all_reported() {
            self.first_round.send_replace(true);
        }
    }

    /// Apply a new configuration.
    fn on_apply(&mut self, config: BalancerConfig) {
        let old = self.state.config().clone();
        for (setting, changed) in [
            ("listen", config.listen != old.listen),
            ("workers", config.workers != old.workers),
            ("metrics", config.metrics != old.metrics),
        ] {
            if changed {
                tracing::warn!(setting, "changed setting takes effect on restart only");
            }
        }
        for removed in self.state.apply(config) {
            let _ = self.metrics.backend_up.remove_label_values(&[&removed]);
            let _ = self
                .metrics
                .backend_in_table
                .remove_label_values(&[&removed]);
            let _ = self
                .metrics
                .health_check_duration
                .remove_label_values(&[&removed]);
        }
        self.publish();
    }

    /// Run until `shutdown` turns true: probe, decide, publish.
    pub async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<ControlMessage>,
        outbox: mpsc::UnboundedSender<ControlMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut epoch = 0u64;
        self.publish();
        let mut probers = spawn_probers(self.state.config(), epoch, &outbox, &self.metrics);
        loop {
            let message = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                message = inbox.recv() => message,
            };
            match message {
                None => break,
                Some(ControlMessage::Probe {
                    epoch: e,
                    backend,
                    outcome,
                }) if e == epoch => self.on_probe(&backend, outcome),
                Some(ControlMessage::Probe { .. }) => {}
                Some(ControlMessage::Unreachable(address)) => {
                    for prober in probers.iter().filter(|p| p.address == address) {
                        prober.kick.notify_one();
                    }
                }
                Some(ControlMessage::Apply(config)) => {
                    for prober in probers.drain(..) {
                        prober.task.abort();
                    }
                    epoch += 1;
                    self.on_apply(*config);
                    probers = spawn_probers(self.state.config(), epoch, &outbox, &self.metrics);
                }
            }
        }
        for prober in probers {
            prober.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kicked_probe_waits_four_answers_at_least_10ms_at_most_the_timeout() {
        let timeout = Duration::from_millis(50);
        let ms = Duration::from_millis;
        assert_eq!(
            kicked_probe_timeout(timeout, None),
            timeout,
            "never answered"
        );
        assert_eq!(kicked_probe_timeout(timeout, Some(ms(1))), ms(10));
        assert_eq!(kicked_probe_timeout(timeout, Some(ms(5))), ms(20));
        assert_eq!(kicked_probe_timeout(timeout, Some(ms(30))), timeout);
    }
}
