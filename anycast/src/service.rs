//! [`RunningController`]: the BFD responders, the metrics endpoint and the decision loop
//! started from one [`AnycastConfig`]; [`run_until_signalled`] adds the signals:
//!
//! | signal | effect |
//! | --- | --- |
//! | `SIGHUP` | reload the file; a bad file is logged (file:line: reason) and the running configuration stays |
//! | `SIGUSR1` | re-check now, `max(rise, fall)` rounds back to back (a local failure withdraws in milliseconds, not `fall` check intervals) |
//! | `SIGUSR2` | drain: withdraw, wait `drain_wait_ms`, report safe to stop (log, metric, state file) |
//! | `SIGINT`, `SIGTERM` | withdraw everything, close the BFD gate, exit |
//!
//! Readiness: once the metrics endpoint listens and the first round is done, one line
//! `trickles-anycast ready` is logged (with the metrics address).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use trickles_netfn::{
    run_reloads, ConfigError, Health, HealthFn, MetricsEndpoint, ReloadOptions, ReloadTrigger,
};

use crate::bfd::responder::{bind_control, Responder};
use crate::bfd::BfdGate;
use crate::config::AnycastConfig;
use crate::controller::{Command, Controller, Status};
use crate::error::AnycastError;
use crate::metrics::AnycastMetrics;

/// Settings given on the command line, applied over the file (at start and at every reload).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `--bird-socket`.
    pub bird_socket: Option<PathBuf>,
    /// `--state-file`.
    pub state_file: Option<PathBuf>,
}

impl Overrides {
    /// Load `path` and apply the overrides.
    pub fn load(&self, path: &Path) -> Result<AnycastConfig, ConfigError> {
        let mut config = AnycastConfig::load(path)?;
        if let Some(metrics) = self.metrics {
            config.metrics = Some(metrics);
        }
        if let Some(socket) = &self.bird_socket {
            config.bird.socket = socket.clone();
        }
        if let Some(state) = &self.state_file {
            config.state_file = Some(state.clone());
        }
        Ok(config)
    }
}

/// A running controller.
pub struct RunningController {
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<Status>>,
    metrics: AnycastMetrics,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    responders: Vec<Responder>,
    metrics_endpoint: Option<MetricsEndpoint>,
}

impl RunningController {
    /// Start everything; returns after the first round. Must be called within a tokio runtime.
    pub async fn start(config: AnycastConfig) -> Result<Self, AnycastError> {
        let metrics = AnycastMetrics::new()?;
        let gate = Arc::new(BfdGate::new());
        let mut responders = Vec::new();
        for address in config.bfd_addresses() {
            let socket = bind_control(address).map_err(|source| AnycastError::Runtime {
                what: format!("the BFD socket on {address} port 3784 (is the address configured on this host?)"),
                source,
            })?;
            let responder = Responder::start(
                socket,
                crate::bfd::packet::CONTROL_PORT,
                config.bfd,
                gate.clone(),
            )
            .map_err(|source| AnycastError::Runtime {
                what: "the BFD thread".into(),
                source,
            })?;
            tracing::info!(%address, "answering BFD");
            responders.push(responder);
        }
        let status = Arc::new(Mutex::new(Status::default()));
        let (stop, shutdown) = watch::channel(false);
        let metrics_endpoint = match config.metrics {
            Some(addr) => {
                let seen = status.clone();
                let health: HealthFn = Arc::new(move || {
                    let s = seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone();
                    let on = s.announced.iter().filter(|a| **a).count();
                    let detail = format!(
                        "{on} of {} announcements announced, BIRD {}",
                        s.announced.len(),
                        if s.bird_up { "up" } else { "not answering" }
                    );
                    if s.bird_up {
                        Health::ok(detail)
                    } else {
                        Health::failing(detail)
                    }
                });
                Some(
                    MetricsEndpoint::start(
                        addr,
                        metrics.registry.clone(),
                        health,
                        shutdown.clone(),
                    )
                    .await?,
                )
            }
            None => None,
        };
        let (commands, inbox) = mpsc::unbounded_channel();
        let (first_round, mut first_round_done) = watch::channel(false);
        let controller = Controller::new(config, gate, metrics.clone(), status.clone());
        let task = tokio::spawn(controller.run(inbox, shutdown, first_round));
        let _ = first_round_done.wait_for(|done| *done).await;
        let running = RunningController {
            commands,
            status,
            metrics,
            stop,
            task,
            responders,
            metrics_endpoint,
        };
        tracing::info!(metrics = ?running.metrics_addr(), "trickles-anycast ready");
        Ok(running)
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_endpoint
            .as_ref()
            .map(MetricsEndpoint::local_addr)
    }

    /// What the loop last saw.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &AnycastMetrics {
        &self.metrics
    }

    /// Run a round now.
    pub fn recheck(&self) {
        let _ = self.commands.send(Command::Recheck);
    }

    /// Start a drain.
    pub fn drain(&self) {
        let _ = self.commands.send(Command::Drain);
    }

    /// Apply a validated configuration.
    pub fn apply(&self, config: AnycastConfig) {
        let _ = self.commands.send(Command::Apply(Box::new(config)));
    }

    /// A receiver that turns true when stopping.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Withdraw everything and stop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for responder in self.responders {
            responder.stop();
        }
        if let Some(endpoint) = self.metrics_endpoint {
            endpoint.stopped().await;
        }
    }
}

/// Run the controller of the file `path` until `SIGINT` or `SIGTERM` (see the table above).
pub async fn run_until_signalled(path: PathBuf, overrides: Overrides) -> Result<(), AnycastError> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = overrides.load(&path)?;
    let listen = |kind, what: &str| {
        signal(kind).map_err(|source| AnycastError::Runtime {
            what: what.to_owned(),
            source,
        })
    };
    let mut interrupt = listen(SignalKind::interrupt(), "the SIGINT handler")?;
    let mut terminate = listen(SignalKind::terminate(), "the SIGTERM handler")?;
    let mut recheck = listen(SignalKind::user_defined1(), "the SIGUSR1 handler")?;
    let mut drain = listen(SignalKind::user_defined2(), "the SIGUSR2 handler")?;
    // Listened to here, before the readiness line, and handed to the reload task through a
    // trigger that keeps a pending reload: a SIGHUP right after "ready" is not lost.
    let mut hangup = listen(SignalKind::hangup(), "the SIGHUP handler")?;
    let reload = ReloadTrigger::new();
    let controller = Arc::new(RunningController::start(config).await?);
    let reloader = {
        let controller = controller.clone();
        let reload_path = path.clone();
        tokio::spawn(run_reloads(
            ReloadOptions {
                path,
                on_sighup: false,
                watch_interval: None,
            },
            reload.clone(),
            controller.stopping(),
            move || match overrides.load(&reload_path) {
                Ok(config) => {
                    controller.apply(config);
                    Ok(())
                }
                Err(e) => {
                    controller
                        .metrics
                        .config_reloads
                        .with_label_values(&["error"])
                        .inc();
                    Err(e)
                }
            },
        ))
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = recheck.recv() => {
                tracing::info!("SIGUSR1: re-checking now");
                controller.recheck();
            }
            _ = drain.recv() => {
                tracing::info!("SIGUSR2: draining");
                controller.drain();
            }
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                reload.trigger();
            }
        }
    }
    tracing::info!("shutting down");
    let _ = controller.stop.send(true);
    let _ = reloader.await;
    match Arc::try_unwrap(controller) {
        Ok(controller) => controller.shutdown().await,
        Err(_) => tracing::error!("controller still shared at shutdown"),
    }
    Ok(())
}
