//! `--observe`: a real Prometheus (the `prometheus` Debian package; a clear error naming it when
//! it is missing) scraping every component of a run every 100 ms with the project's alert rules
//! loaded, and the failover overview dashboard (`dashboards/failover.json`) drawn from its
//! answers once the run is over ([`crate::dashboard_render`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trickles_observe::{workspace, PrometheusServer, ScrapeJob};

use crate::dashboard_render::{render_dashboard, RenderedDashboard, Window};
use crate::error::{LabError, Result};
use crate::pool::Pool;
use crate::service::ServiceSpec;

/// How often Prometheus scrapes and evaluates rules.
const SCRAPE: Duration = Duration::from_millis(100);
/// The dashboards' `$__rate_interval`: four scrapes, as Grafana would choose.
const RATE_INTERVAL: &str = "400ms";
/// How long Prometheus may take to scrape every target once.
const TARGETS_WITHIN: Duration = Duration::from_secs(30);
/// Scrapes after the run, so the last moments are in the data.
const TAIL: Duration = Duration::from_millis(600);

/// Starts Prometheus scraping the pool's replicas, balancer and mirror, and the client's
/// `--metrics` endpoint, with the project's rules.
pub fn start_prometheus(pool: &Pool<'_>, client: Option<SocketAddr>) -> Result<PrometheusServer> {
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
    let failed = |e: trickles_observe::ObserveError| LabError::Usage(format!("--observe: {e}"));
    let prometheus =
        PrometheusServer::start(&jobs, &workspace::rule_files(), SCRAPE).map_err(failed)?;
    // Prometheus hands new targets to its scrapers in batches (every few seconds): wait until
    // it knows every target and has scraped every service (the client's endpoint appears with
    // the client), so the run is watched from its first moment.
    let expected: usize = jobs.iter().map(|job| job.targets.len()).sum();
    let services = expected - usize::from(client.is_some());
    let deadline = Instant::now() + TARGETS_WITHIN;
    loop {
        let targets = prometheus.targets().map_err(failed)?;
        let scraped = targets.iter().filter(|t| t["health"] == "up").count();
        if targets.len() >= expected && scraped >= services {
            return Ok(prometheus);
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

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Waits for a last few scrapes, then draws the failover overview from `started` (Unix
/// seconds, the client's start) to now into `STEM.png` / `.svg`.
pub fn draw_overview(
    prometheus: &PrometheusServer,
    started: f64,
    stem: &Path,
) -> Result<RenderedDashboard> {
    std::thread::sleep(TAIL);
    let window = Window {
        start: started - 0.5,
        end: unix_now(),
        step: SCRAPE,
        origin: started,
    };
    let dashboard = workspace::dashboards_dir().join("failover.json");
    render_dashboard(prometheus, &dashboard, window, RATE_INTERVAL, stem)
}
