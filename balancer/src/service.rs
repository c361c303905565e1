//! [`RunningBalancer`]: the datapath workers, the control plane and the metrics endpoint started
//! from one [`BalancerConfig`]; reloaded on `SIGHUP` or file change, stopped on `SIGINT` /
//! `SIGTERM` ([`run_until_signalled`]).
//!
//! A reload validates the whole file first; an invalid file is logged with file, line and
//! reason and the configuration in force keeps serving. A valid one is handed to the
//! controller, which republishes the table: workers pick it up between two batches, so running
//! transfers lose no packet. Listen addresses, workers and the metrics address take effect on
//! restart only (a warning says so).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use trickles_netfn::{
    run_reloads, ConfigError, Exclusivity, Health, HealthFn, MetricsEndpoint, Published,
    ReloadOptions, ReloadTrigger, WorkerGroup,
};

use crate::config::{BalancerConfig, WATCH_INTERVAL};
use crate::controller::{ControlMessage, Controller};
use crate::core::ForwardingTable;
use crate::datapath;
use crate::error::BalancerError;
use crate::metrics::BalancerMetrics;
use crate::pool::PoolState;
use crate::xdp::runner::XdpDatapath;
use crate::xdp::settings::Datapath;

/// Extra time `start` waits, beyond one probe timeout, for the first round of probes.
const FIRST_ROUND_SLACK: Duration = Duration::from_millis(200);

/// A running balancer.
pub struct RunningBalancer {
    groups: Vec<WorkerGroup>,
    table: Arc<Published<ForwardingTable>>,
    metrics: BalancerMetrics,
    control: mpsc::UnboundedSender<ControlMessage>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics_endpoint: Option<MetricsEndpoint>,
    xdp: Option<XdpDatapath>,
}

impl RunningBalancer {
    /// Start everything `config` asks for; returns once every backend has been probed once
    /// (or a probe timeout has passed), so backends that are up are in the table. Must be
    /// called within a tokio runtime.
    pub async fn start(config: BalancerConfig) -> Result<Self, BalancerError> {
        let metrics = BalancerMetrics::new()?;
        let state = PoolState::new(config.clone());
        let table = Arc::new(Published::new(state.table()?));
        let (stop, shutdown) = watch::channel(false);

        match &config.pool_key {
            Some(key) => tracing::info!(
                key_id = key.id(),
                "pool key set: datagrams to the backends carry its hop tag, their replies must \
                 (missing_tag, bad_tag and stale_tag are dropped); the XDP datapath passes \
                 every datagram up"
            ),
            None => tracing::info!(
                "no pool key: backend replies are trusted by source address alone; set \
                 `pool_key:` to authenticate the hops to the replicas"
            ),
        }
        let (control, inbox) = mpsc::unbounded_channel();
        let mut groups = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            let (table, metrics, to_control) = (table.clone(), metrics.clone(), control.clone());
            let exclusivity = Exclusivity::new(
                config.share_port,
                ", or set `share_port: true` to serve it together",
            );
            let started = WorkerGroup::start_with(
                "balancer",
                *addr,
                config.workers,
                exclusivity,
                move |ctx| datapath::run(ctx, table.clone(), metrics.clone(), to_control.clone()),
            );
            match started {
                Ok(group) => {
                    tracing::info!(addr = %group.local_addr(), workers = config.workers, "balancing");
                    groups.push(group);
                }
                Err(e) => {
                    groups.into_iter().for_each(WorkerGroup::stop);
                    return Err(e.into());
                }
            }
        }

        metrics.set_datapath(false);
        let vips: Vec<SocketAddr> = groups.iter().map(WorkerGroup::local_addr).collect();
        let xdp = match config.datapath.datapath {
            Datapath::Userspace => None,
            choice => {
                match XdpDatapath::start(&config.datapath, &vips, table.clone(), metrics.clone()) {
                    Ok(xdp) => {
                        tracing::info!(
                            interfaces = ?xdp.interfaces(),
                            mode = ?config.datapath.mode,
                            "XDP datapath attached in front of the userspace datapath"
                        );
                        Some(xdp)
                    }
                    Err(e) if choice == Datapath::Auto => {
                        tracing::warn!("datapath auto: running the userspace datapath only: {e}");
                        None
                    }
                    Err(e) => {
                        groups.into_iter().for_each(WorkerGroup::stop);
                        return Err(e.into());
                    }
                }
            }
        };

        let metrics_endpoint = match config.metrics {
            Some(addr) => {
                let health_table = table.clone();
                let health: HealthFn = Arc::new(move || {
                    let t = health_table.get();
                    let detail = format!(
                        "{} of {} backends in the table",
                        t.active().len(),
                        t.backends.len()
                    );
                    if t.active().is_empty() {
                        Health::failing(detail)
                    } else {
                        Health::ok(detail)
                    }
                });
                match MetricsEndpoint::start(
                    addr,
                    metrics.registry.clone(),
                    health,
                    shutdown.clone(),
                )
                .await
                {
                    Ok(endpoint) => Some(endpoint),
                    Err(e) => {
                        groups.into_iter().for_each(WorkerGroup::stop);
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };

        let (first_round, mut first_round_done) = watch::channel(false);
        let controller = Controller::new(state, table.clone(), metrics.clone(), first_round);
        let tasks = vec![tokio::spawn(controller.run(
            inbox,
            control.clone(),
            shutdown,
        ))];
        let wait = config.health.timeout + FIRST_ROUND_SLACK;
        let _ = tokio::time::timeout(wait, first_round_done.wait_for(|done| *done)).await;

        Ok(RunningBalancer {
            groups,
            table,
            metrics,
            control,
            stop,
            tasks,
            metrics_endpoint,
            xdp,
        })
    }

    /// The bound VIP addresses (ports resolved when 0 was asked for).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.groups.iter().map(WorkerGroup::local_addr).collect()
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_endpoint
            .as_ref()
            .map(MetricsEndpoint::local_addr)
    }

    /// The metrics.
    pub fn metrics(&self) -> &BalancerMetrics {
        &self.metrics
    }

    /// True when the XDP datapath is attached in front of the userspace one.
    pub fn xdp_attached(&self) -> bool {
        self.xdp.is_some()
    }

    /// The forwarding table in force.
    pub fn table(&self) -> Arc<ForwardingTable> {
        self.table.get()
    }

    /// Apply a validated configuration (pool, weights, drains, policy, mode, health).
    pub fn apply(&self, config: BalancerConfig) {
        self.metrics.config_reloads.with_label_values(&["ok"]).inc();
        let _ = self.control.send(ControlMessage::Apply(Box::new(config)));
    }

    /// Read and validate `path`, then apply it; on error nothing changes.
    pub fn reload_from(&self, path: &Path) -> Result<(), ConfigError> {
        match BalancerConfig::load(path) {
            Ok(config) => {
                self.apply(config);
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["error"])
                    .inc();
                Err(e)
            }
        }
    }

    /// A receiver that turns true when the balancer is stopping.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stop everything and wait for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(xdp) = self.xdp {
            // Detach first: frames go to the sockets while they still listen.
            if tokio::task::spawn_blocking(move || xdp.stop())
                .await
                .is_err()
            {
                tracing::error!("XDP datapath shutdown panicked");
            }
        }
        let groups = self.groups;
        if tokio::task::spawn_blocking(move || groups.into_iter().for_each(WorkerGroup::stop))
            .await
            .is_err()
        {
            tracing::error!("datapath shutdown panicked");
        }
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(endpoint) = self.metrics_endpoint {
            endpoint.stopped().await;
        }
    }
}

/// Run the balancer of the file `path` until `SIGINT` or `SIGTERM`, reloading on `SIGHUP`
/// (and on file change when `watch_config` is set).
pub async fn run_until_signalled(path: PathBuf) -> Result<(), BalancerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = BalancerConfig::load(&path)?;
    let listen =
        |kind, what| signal(kind).map_err(|source| BalancerError::Runtime { what, source });
    let mut interrupt = listen(SignalKind::interrupt(), "the SIGINT handler")?;
    let mut terminate = listen(SignalKind::terminate(), "the SIGTERM handler")?;
    let watch_interval = config.watch_config.then_some(WATCH_INTERVAL);

    let balancer = Arc::new(RunningBalancer::start(config).await?);
    let reloader = {
        let balancer = balancer.clone();
        let reload_path = path.clone();
        tokio::spawn(run_reloads(
            ReloadOptions {
                path,
                on_sighup: true,
                watch_interval,
            },
            ReloadTrigger::new(),
            balancer.stopping(),
            move || balancer.reload_from(&reload_path),
        ))
    };
    tokio::select! {
        _ = interrupt.recv() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down");
    let _ = balancer.stop.send(true);
    let _ = reloader.await;
    match Arc::try_unwrap(balancer) {
        Ok(balancer) => balancer.shutdown().await,
        Err(_) => tracing::error!("balancer still shared at shutdown"),
    }
    Ok(())
}
