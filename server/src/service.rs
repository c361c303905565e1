//! A running server: the UDP workers, the HTTP/TCP baseline and the metrics endpoint started
//! from one [`Settings`], reloaded on `SIGHUP`, stopped on `SIGINT`/`SIGTERM`. The metrics
//! endpoint and the reload loop are netfn's ([`MetricsEndpoint`], [`run_reloads`]), as in the
//! balancer and the mirror.
//!
//! A reload reads the configuration and the key file again and applies what can change while
//! running: the keys (handed to every UDP worker) and the root directory. Everything is loaded
//! and checked before anything is applied, so a bad reload is logged and the running
//! configuration keeps serving. Addresses (the direct-return VIPs too), worker count and MSS take
//! effect on restart only (a warning says so).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use trickles::server::ServerConfig;
use trickles_netfn::{run_reloads, MetricsEndpoint, ReloadOptions, ReloadTrigger};

use crate::cli::RunArgs;
use crate::config::Settings;
use crate::error::ServerError;
use crate::keyfile::KeyFile;
use crate::metrics::ServerMetrics;
use crate::static_files::StaticFiles;
use crate::udp::vip_sockets::host_warnings;
use crate::udp::{UdpDriver, UdpListen};
use crate::watermark::router::ServedApplications;
use crate::watermark::Watermark;
use crate::{http_baseline, http_listener};

/// Every component of a running server.
pub struct RunningServer {
    args: RunArgs,
    settings: Settings,
    files: Arc<StaticFiles>,
    metrics: ServerMetrics,
    udp: Option<UdpDriver>,
    tcp_addr: Option<SocketAddr>,
    metrics_endpoint: Option<MetricsEndpoint>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Load the settings `args` describe and start every component they ask for. Must be called
    /// within a tokio runtime.
    pub async fn start(args: RunArgs) -> Result<Self, ServerError> {
        let settings = Settings::load(&args)?;
        let keys = settings
            .key_file
            .as_deref()
            .map(KeyFile::load)
            .transpose()?;
        let files = Arc::new(
            StaticFiles::new(&settings.root).map_err(|e| ServerError::io(&settings.root, e))?,
        );
        let watermark = match &settings.watermark {
            Some(watermark) => Some(Arc::new(Watermark::new(watermark)?)),
            None => None,
        };
        let render_threads = settings
            .watermark
            .as_ref()
            .map_or(1, |w| w.cache_limits().max_concurrent_renders);
        let apps = Arc::new(
            ServedApplications::new(files.clone(), watermark.clone())
                .rendering_off_the_datapath(render_threads),
        );
        let metrics = ServerMetrics::new()?;
        if let Some(watermark) = &watermark {
            let collector = crate::watermark::metrics::WatermarkCollector::new(watermark.clone())?;
            metrics.registry.register(Box::new(collector))?;
        }
        let (stop, shutdown) = watch::channel(false);

        // Bind every TCP listener before starting threads; a failure drops `stop`, which ends
        // the metrics endpoint, so nothing is left running.
        let tcp = match settings.tcp_listen {
            Some(addr) => Some(http_listener::bind(addr).await?),
            None => None,
        };
        let tcp_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_endpoint = match settings.metrics {
            Some(addr) => {
                let endpoint = MetricsEndpoint::start(
                    addr,
                    metrics.registry.clone(),
                    trickles_netfn::metrics_endpoint::always_healthy(),
                    shutdown.clone(),
                )
                .await?;
                tracing::info!(addr = %endpoint.local_addr(), "serving /metrics and /healthz");
                Some(endpoint)
            }
            None => None,
        };

        let udp = match (&keys, settings.listen.is_empty()) {
            (Some(keys), false) => Some(UdpDriver::start(
                &UdpListen {
                    addrs: settings.listen.clone(),
                    workers: settings.workers,
                    share_port: settings.share_port,
                },
                &settings.direct_return,
                &server_config(&settings),
                keys.key_ring(),
                apps,
                metrics.udp.clone(),
            )?),
            _ => None,
        };
        let pool_key = settings
            .pool_key
            .as_deref()
            .map(trickles_netfn::PoolKey::load)
            .transpose()?;
        if let Some(udp) = &udp {
            udp.set_balancers(settings.balancers.clone());
            udp.set_pool_key(pool_key);
            for warning in host_warnings(&settings.direct_return, &settings.balancers) {
                tracing::warn!("{warning}");
            }
        }

        let mut tasks = Vec::new();
        if let Some(listener) = tcp {
            tracing::info!(addr = %display_addr(tcp_addr), root = %settings.root.display(), "serving the HTTP/TCP baseline");
            let mut handler = http_baseline::handler(files.clone(), metrics.http.clone());
            if let Some(watermark) = &watermark {
                handler = crate::watermark::http::handler(
                    handler,
                    watermark.clone(),
                    metrics.http.clone(),
                );
            }
            tasks.push(tokio::spawn(http_listener::serve(
                listener, handler, shutdown, "http",
            )));
        }
        Ok(RunningServer {
            args,
            settings,
            files,
            metrics,
            udp,
            tcp_addr,
            metrics_endpoint,
            stop,
            tasks,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The bound UDP address of each `listen` entry (ports resolved when 0 was asked for).
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        self.udp.as_ref().map_or(&[], |u| u.local_addrs())
    }

    /// The bound address of the HTTP/TCP baseline.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The bound address of the metrics endpoint.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_endpoint
            .as_ref()
            .map(MetricsEndpoint::local_addr)
    }

    /// The metrics.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// Re-read the configuration and the key file; apply the keys and the root. On error
    /// nothing changes.
    pub fn reload(&mut self) -> Result<(), ServerError> {
        let fresh = Settings::load(&self.args)?;
        let keys = fresh.key_file.as_deref().map(KeyFile::load).transpose()?;
        let pool_key = fresh
            .pool_key
            .as_deref()
            .map(trickles_netfn::PoolKey::load)
            .transpose()?;
        self.files
            .set_root(&fresh.root)
            .map_err(|e| ServerError::io(&fresh.root, e))?;
        if let (Some(udp), Some(keys)) = (&self.udp, &keys) {
            udp.set_keys(keys.key_ring());
            tracing::info!(
                current_epoch = keys.current.epoch,
                other_epoch = keys.previous.as_ref().map(|k| k.epoch),
                "keys reloaded"
            );
        }
        let old = &self.settings;
        for (name, changed) in [
            ("listen", fresh.listen != old.listen),
            ("tcp_listen", fresh.tcp_listen != old.tcp_listen),
            ("metrics", fresh.metrics != old.metrics),
            ("workers", fresh.workers != old.workers),
            ("share_port", fresh.share_port != old.share_port),
            ("mss", fresh.mss != old.mss),
            (
                "replay_capacity",
                fresh.replay_capacity != old.replay_capacity,
            ),
            ("watermark", fresh.watermark != old.watermark),
            ("dsr_vips", fresh.direct_return != old.direct_return),
        ] {
            if changed {
                tracing::warn!(
                    setting = name,
                    "changed setting takes effect on restart only"
                );
            }
        }
        if let Some(udp) = &self.udp {
            udp.set_balancers(fresh.balancers.clone());
            udp.set_pool_key(pool_key);
        }
        tracing::info!(root = %fresh.root.display(), "reloaded root, keys, balancers and pool key applied");
        self.settings.root = fresh.root;
        self.settings.balancers = fresh.balancers;
        self.settings.pool_key = fresh.pool_key;
        self.settings.key_file = fresh.key_file;
        Ok(())
    }

    /// Stop every component and wait for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(udp) = self.udp {
            if tokio::task::spawn_blocking(move || udp.shutdown())
                .await
                .is_err()
            {
                tracing::error!("UDP driver shutdown panicked");
            }
        }
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(endpoint) = self.metrics_endpoint {
            endpoint.stopped().await;
        }
    }
}

fn display_addr(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "?".to_owned(), |a| a.to_string())
}

/// The core's tunables from the settings.
fn server_config(settings: &Settings) -> ServerConfig {
    let mut config = ServerConfig::default();
    if let Some(mss) = settings.mss.and_then(|m| u16::try_from(m).ok()) {
        config.mss = mss;
    }
    if let Some(capacity) = settings.replay_capacity {
        config.replay_capacity = capacity;
    }
    config
}

/// Run until `SIGINT` or `SIGTERM`, reloading on `SIGHUP` (netfn's [`run_reloads`]: a bad
/// reload is logged and the running configuration keeps serving).
pub async fn run_until_signalled(args: RunArgs) -> Result<(), ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind, what| signal(kind).map_err(|source| ServerError::Runtime { what, source });
    // Listened for before anything starts, so that a SIGHUP sent as soon as the server says it
    // is serving is neither fatal (the default action) nor lost: it becomes a reload trigger,
    // which the reload loop keeps until it runs.
    let mut hangup = listen(SignalKind::hangup(), "the SIGHUP handler")?;
    let mut interrupt = listen(SignalKind::interrupt(), "the SIGINT handler")?;
    let mut terminate = listen(SignalKind::terminate(), "the SIGTERM handler")?;
    let trigger = ReloadTrigger::new();
    let on_hangup = trigger.clone();
    let forward = tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            on_hangup.trigger();
        }
    });

    let reload = ReloadOptions {
        path: args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("<command line>")),
        on_sighup: false,
        watch_interval: None,
    };
    let mut server = RunningServer::start(args).await?;
    // The loop runs until a stop signal; its shutdown channel is never signalled.
    let (_running, never) = watch::channel(false);
    tokio::select! {
        _ = run_reloads(reload, trigger, never, || server.reload()) => {}
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    forward.abort();
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
