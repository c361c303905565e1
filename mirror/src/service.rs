//! Running the mirror as a process: load the configuration, start the datapath, serve
//! `/metrics` and `/healthz`, reload on `SIGHUP` or file change, stop on `SIGINT`/`SIGTERM`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use trickles_netfn::config::{run_reloads, ConfigError, Published, ReloadOptions, ReloadTrigger};
use trickles_netfn::metrics_endpoint::{Health, MetricsEndpoint};
use trickles_netfn::NetfnError;

use crate::cli::Cli;
use crate::config::MirrorSettings;
use crate::datapath::MirrorDatapath;
use crate::metrics::MirrorMetrics;
use crate::rules::MirrorRules;
use crate::xdp::runner::XdpMirrorDatapath;
use trickles_xdp::settings::Datapath;

/// The file's settings with the command line's overrides applied.
pub fn settings(cli: &Cli) -> Result<MirrorSettings, ConfigError> {
    let mut settings = MirrorSettings::load(&cli.config)?;
    if !cli.listen.is_empty() {
        settings.listen = cli.listen.clone();
    }
    if cli.metrics.is_some() {
        settings.metrics = cli.metrics;
    }
    if let Some(workers) = cli.workers {
        if !(1..=crate::config::MAX_WORKERS).contains(&workers) {
            return Err(ConfigError::file(
                "<command line>",
                format!("--workers must be 1 to {}", crate::config::MAX_WORKERS),
            ));
        }
        settings.workers = workers;
    }
    Ok(settings)
}

/// A one-paragraph description of validated settings (for `--check` and the startup log).
pub fn summary(settings: &MirrorSettings) -> String {
    let peers: Vec<&str> = settings
        .rules
        .peers
        .peers()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let wan = &settings.rules.wan;
    format!(
        "listen {:?}, {} worker(s), peers [{}], to_server delay {} ms loss {}, to_client delay {} ms loss {}",
        settings.listen,
        settings.workers,
        peers.join(", "),
        wan.to_server.delay.micros() as f64 / 1e3,
        wan.to_server.loss,
        wan.to_client.delay.micros() as f64 / 1e3,
        wan.to_client.loss,
    )
}

/// Run until `SIGINT` or `SIGTERM`.
pub async fn run_until_signalled(cli: Cli, settings: MirrorSettings) -> Result<(), NetfnError> {
    // Before anything is announced: a signal sent as soon as the addresses are printed must
    // find the handlers installed.
    let termination = Termination::install()?;
    let metrics = MirrorMetrics::new()?;
    let rules = Arc::new(Published::new(settings.rules.clone()));
    let datapath = MirrorDatapath::start(
        &settings.listen,
        settings.workers,
        settings.seed,
        rules.clone(),
        &metrics,
    )?;
    for addr in datapath.local_addrs() {
        println!("trickles-mirror: listening on {addr}");
    }
    let xdp = start_xdp(&settings, &datapath.local_addrs(), &rules, &metrics)?;
    tracing::info!("{}", summary(&settings));

    let (stop, shutdown) = watch::channel(false);
    let endpoint = match settings.metrics {
        Some(addr) => {
            let health = Arc::new(|| Health::ok("mirroring"));
            let endpoint =
                MetricsEndpoint::start(addr, metrics.registry.clone(), health, shutdown.clone())
                    .await?;
            println!("trickles-mirror: metrics on {}", endpoint.local_addr());
            Some(endpoint)
        }
        None => None,
    };

    let reload_metrics = metrics.clone();
    let reload_cli = cli.clone();
    let running = settings.clone();
    let reloads = tokio::spawn(run_reloads(
        ReloadOptions {
            path: cli.config.clone(),
            on_sighup: true,
            watch_interval: (cli.watch_ms > 0).then(|| Duration::from_millis(cli.watch_ms)),
        },
        ReloadTrigger::new(),
        shutdown,
        move || -> Result<(), ConfigError> {
            let loaded = self::settings(&reload_cli);
            reload_metrics.reloaded(loaded.is_ok());
            let fresh = loaded?;
            if fresh.listen != running.listen
                || fresh.workers != running.workers
                || fresh.metrics != running.metrics
            {
                tracing::warn!("listen, workers and metrics changes take effect on restart");
            }
            rules.publish(fresh.rules);
            Ok(())
        },
    ));

    termination.wait().await;
    tracing::info!("stopping");
    let _ = stop.send(true);
    let _ = reloads.await;
    if let Some(endpoint) = endpoint {
        endpoint.stopped().await;
    }
    if let Some(xdp) = xdp {
        // Detach first: frames go to the sockets while they still listen.
        tokio::task::spawn_blocking(move || xdp.stop())
            .await
            .map_err(|e| NetfnError::Runtime {
                what: "the XDP datapath shutdown",
                source: std::io::Error::other(e),
            })?;
    }
    tokio::task::spawn_blocking(move || datapath.stop())
        .await
        .map_err(|e| NetfnError::Runtime {
            what: "the datapath shutdown",
            source: std::io::Error::other(e),
        })?;
    Ok(())
}

/// The XDP datapath `settings` ask for, in front of the userspace one: `None` for
/// `datapath: userspace`, or for `auto` when XDP cannot run (logged with the reason); an error
/// for `xdp` when it cannot.
fn start_xdp(
    settings: &MirrorSettings,
    locals: &[SocketAddr],
    rules: &Arc<Published<MirrorRules>>,
    metrics: &MirrorMetrics,
) -> Result<Option<XdpMirrorDatapath>, NetfnError> {
    let choice = settings.datapath.datapath;
    if choice == Datapath::Userspace {
        return Ok(None);
    }
    match XdpMirrorDatapath::start(&settings.datapath, locals, rules.clone(), metrics.clone()) {
        Ok(xdp) => {
            tracing::info!(
                interfaces = ?xdp.interfaces(),
                mode = ?settings.datapath.mode,
                "XDP datapath attached in front of the userspace datapath"
            );
            Ok(Some(xdp))
        }
        Err(e) if choice == Datapath::Auto => {
            tracing::warn!("datapath auto: running the userspace datapath only: {e}");
            Ok(None)
        }
        Err(e) => Err(NetfnError::Runtime {
            what: "the XDP datapath",
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// The signals that stop the mirror, listened to from the start.
struct Termination {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    fn install() -> Result<Self, NetfnError> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime_error = |source| NetfnError::Runtime {
            what: "signal handlers",
            source,
        };
        Ok(Termination {
            interrupt: signal(SignalKind::interrupt()).map_err(runtime_error)?,
            terminate: signal(SignalKind::terminate()).map_err(runtime_error)?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
