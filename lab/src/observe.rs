//! `--observe`: a real Prometheus (the `prometheus` Debian package; a clear error naming it when
//! it is missing) scraping every component of a run every 100 ms with the project's alert rules
//! loaded, and dashboards (`dashboards/*.json`) drawn from its answers once the run is over
//! ([`crate::dashboard_render`]).
//!
//! On loopback Prometheus runs in the lab's own namespace; on the namespace topology it runs in
//! the router's, which reaches every host's control address ([`crate::topology::Host::control`])
//! without crossing a shaped link in the data's direction (only the scrapes' small requests go
//! toward the client). Every request to it is made from a thread in that namespace.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trickles_observe::{workspace, ObserveError, PrometheusServer, ScrapeJob};

use crate::dashboard_render::{render_dashboard, RenderedDashboard, Window};
use crate::error::{LabError, Result};
use crate::pool::Pool;
use crate::service::client::ClientSpec;
use crate::service::ServiceSpec;
use crate::topology::{Host, Topology};

/// How often Prometheus scrapes and evaluates rules.
const SCRAPE: Duration = Duration::from_millis(100);
/// The dashboards' `$__rate_interval`: four scrapes, as Grafana would choose.
const RATE_INTERVAL: &str = "400ms";
/// How long Prometheus may take to scrape every target once.
const TARGETS_WITHIN: Duration = Duration::from_secs(30);
/// Scrapes after the run, so the last moments are in the data.
const TAIL: Duration = Duration::from_millis(600);
/// The client's `--metrics` port on a namespace host.
const CLIENT_METRICS_PORT: u16 = 9200;

/// A Prometheus watching a run, and the host it runs in.
#[derive(Debug)]
pub struct Observer {
    host: Host,
    prometheus: PrometheusServer,
}

fn failed(error: ObserveError) -> LabError {
    LabError::Usage(format!("--observe: {error}"))
}

/// Where a client on `host` serves its `--metrics` for the observer.
pub fn client_metrics(host: &Host) -> Result<SocketAddr> {
    host.control(CLIENT_METRICS_PORT)
}

/// For `--observe`: gives `client` a `--metrics` endpoint on `client_host` and starts the
/// observer of `pool` unless one runs already (an experiment's services keep their addresses
/// from one client's run to the next, so one Prometheus watches them all). Returns the start
/// time to draw from (Unix seconds).
pub fn watch_pool(
    observer: &mut Option<Observer>,
    topology: &Topology,
    pool: &Pool<'_>,
    client: &mut ClientSpec,
    client_host: &Host,
) -> Result<f64> {
    client.metrics = Some(client_metrics(client_host)?);
    if observer.is_none() {
        *observer = Some(Observer::for_pool(topology, pool, client.metrics)?);
    }
    Ok(unix_now())
}

/// The scrape jobs of a pool: its replicas, balancer and mirror, and the client's `--metrics`.
pub fn pool_jobs(pool: &Pool<'_>, client: Option<SocketAddr>) -> Vec<ScrapeJob> {
    let replicas = (0..pool.replica_count())
        .filter_map(|i| pool.replica(i)?.spec().control())
        .collect();
    let mut jobs = vec![
        ScrapeJob::new("trickles-server", replicas),
        ScrapeJob::new("trickles-client", client.into_iter().collect()),
    ];
    if let Some(control) = pool.balancer().and_then(|b| b.spec().control()) {
        jobs.push(ScrapeJob::new("trickles-balancer", vec![control]));
    }
    if let Some(control) = pool.mirror().and_then(|m| m.spec().control()) {
        jobs.push(ScrapeJob::new("trickles-mirror", vec![control]));
    }
    jobs
}

impl Observer {
    /// Starts Prometheus where it reaches every host of `topology`, scraping `jobs` with the
    /// project's rules, and returns once it has scraped every target but the `trickles-client`
    /// job's (which appear with the client), so the run is watched from its first moment.
    pub fn start(topology: &Topology, jobs: &[ScrapeJob]) -> Result<Self> {
        let host = match topology {
            Topology::Loopback { address } => Host::loopback("observer", *address),
            Topology::Star { .. } => topology.router_host()?,
        };
        let prometheus = host
            .probe(|| PrometheusServer::start(jobs, &workspace::rule_files(), SCRAPE))
            .ok_or_else(|| LabError::Usage("--observe: cannot enter the router".to_owned()))?
            .map_err(failed)?;
        let observer = Observer { host, prometheus };
        observer.wait_for_targets(jobs)?;
        Ok(observer)
    }

    /// Starts Prometheus watching `pool` and the client's `--metrics` at `client`.
    pub fn for_pool(
        topology: &Topology,
        pool: &Pool<'_>,
        client: Option<SocketAddr>,
    ) -> Result<Self> {
        Observer::start(topology, &pool_jobs(pool, client))
    }

    fn in_namespace<T: Send>(
        &self,
        work: impl FnOnce(&PrometheusServer) -> Result<T> + Send,
    ) -> Result<T> {
        let prometheus = &self.prometheus;
        self.host.probe(|| work(prometheus)).unwrap_or_else(|| {
            Err(LabError::Usage(
                "--observe: cannot enter the router".to_owned(),
            ))
        })
    }

    // Prometheus hands new targets to its scrapers in batches (every few seconds).
    fn wait_for_targets(&self, jobs: &[ScrapeJob]) -> Result<()> {
        let expected: usize = jobs.iter().map(|job| job.targets.len()).sum();
        let clients: usize = jobs
            .iter()
            .filter(|job| job.name == "trickles-client")
            .map(|job| job.targets.len())
            .sum();
        let services = expected - clients;
        let deadline = Instant::now() + TARGETS_WITHIN;
        loop {
            let targets = self.in_namespace(|p| p.targets().map_err(failed))?;
            let scraped = targets.iter().filter(|t| t["health"] == "up").count();
            if targets.len() >= expected && scraped >= services {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(LabError::timeout(
                    format!("Prometheus to scrape all {services} services ({scraped} up)"),
                    TARGETS_WITHIN,
                ));
            }
            crate::interrupt::check()?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a last few scrapes, then draws `dashboards/NAME.json` from `started` (Unix
    /// seconds, the client's start) to now into `STEM.png` / `.svg`.
    pub fn draw(&self, name: &str, started: f64, stem: &Path) -> Result<RenderedDashboard> {
        std::thread::sleep(TAIL);
        let window = Window {
            start: started - 0.5,
            end: unix_now(),
            step: SCRAPE,
            origin: started,
        };
        let dashboard = workspace::dashboards_dir().join(format!("{name}.json"));
        self.in_namespace(|p| render_dashboard(p, &dashboard, window, RATE_INTERVAL, stem))
    }

    /// Draws the failover overview (`dashboards/failover.json`) into `STEM.png` / `.svg`.
    pub fn draw_overview(&self, started: f64, stem: &Path) -> Result<RenderedDashboard> {
        self.draw("failover", started, stem)
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
