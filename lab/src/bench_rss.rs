//! `trickles-lab bench rss`: does a server's memory grow with its clients? One replica serves
//! one file; for each N, `trickles-client get --parallel N` fetches it N times concurrently
//! while the lab samples the server's resident set size (`VmRSS`) every few milliseconds. The
//! report gives the peak RSS per N and the ratio of the largest N's peak to the smallest's
//! (the claim to test: within 10 %).
//!
//! With `--total`, every step moves the same number of bytes (each of N clients fetches
//! `total / N`), so the steps differ only in concurrency, not in the number of requests.
//!
//! By default the same server process serves every N in order, so memory the allocator kept
//! (or soft state first touched) in an earlier step stays counted in a later one: the
//! comparison is conservative for "does not grow". `--fresh-server` starts a new server
//! process (same key, same port) for every step instead.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::interrupt;
use crate::pool::{FrontEnd, Pool, PoolSpec};
use crate::rss::resident_bytes;
use crate::schedule::{Action, Stage, Target};
use crate::service::client::ParallelReport;
use crate::service::client::{ClientProcess, ClientSpec};
use crate::topology::Topology;

/// How often the server's RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Settings (CLI flags).
#[derive(Clone, Debug)]
pub struct RssBenchOptions {
    /// The concurrency levels, in order.
    pub clients: Vec<u32>,
    /// What each transfer fetches.
    pub workload: RssWorkload,
    /// Loopback address.
    pub ip: IpAddr,
    /// Where the CSV goes.
    pub out_dir: PathBuf,
    /// Each step must end within this.
    pub step_limit: Duration,
    /// The client's `--timeout` (no progress for this long fails a transfer).
    pub idle_timeout: Duration,
    /// A new server process for every step, so no step inherits another's memory.
    pub fresh_server: bool,
}

/// How big each transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssWorkload {
    /// Every transfer, at every N, fetches a file of this size (more clients, more requests).
    FilePerClient(u64),
    /// Each step moves this many bytes in all: at N clients each fetches `total / N`, so every
    /// step makes about the same number of requests and only the concurrency differs. (The
    /// server's soft state, e.g. the replay filter, is touched in proportion to requests.)
    TotalPerStep(u64),
}

impl RssWorkload {
    /// The size each of `clients` transfers fetches.
    pub fn file_size(self, clients: u32) -> u64 {
        match self {
            RssWorkload::FilePerClient(size) => size,
            RssWorkload::TotalPerStep(total) => total / u64::from(clients.max(1)),
        }
    }
}

/// One concurrency level.
#[derive(Clone, Debug)]
pub struct RssStep {
    /// Concurrent transfers.
    pub clients: u32,
    /// Bytes each transfer fetched.
    pub file_size: u64,
    /// Server RSS just before the step, bytes.
    pub rss_before: u64,
    /// Largest RSS sampled during the step, bytes.
    pub rss_peak: u64,
    /// RSS samples taken.
    pub samples: usize,
    /// The client's report.
    pub report: ParallelReport,
}

/// Every step and the CSV.
#[derive(Clone, Debug)]
pub struct RssBenchOutcome {
    /// The steps, in order.
    pub steps: Vec<RssStep>,
    /// The CSV written.
    pub csv: PathBuf,
}

/// Runs the benchmark.
pub fn run_rss_bench(binaries: &Binaries, opts: &RssBenchOptions) -> Result<RssBenchOutcome> {
    if opts.clients.is_empty() || opts.clients.contains(&0) {
        return Err(LabError::Usage(
            "--clients needs positive counts, e.g. 10,2000".to_owned(),
        ));
    }
    let fixture = ServiceFixture::new(binaries)?;
    let topology = Topology::loopback(opts.ip)?;
    let mut pool = Pool::start(
        binaries,
        &topology,
        &fixture,
        PoolSpec {
            http_baseline: false,
            ..PoolSpec::new(1, FrontEnd::Direct)
        },
    )?;
    let mut steps = Vec::new();
    for (step, &clients) in opts.clients.iter().enumerate() {
        if opts.fresh_server && step > 0 {
            pool.apply(&Action::Restart(Target::Replica(0)))?;
        }
        let server_pid = pool
            .replica(0)
            .and_then(|r| r.pid())
            .ok_or_else(|| LabError::Usage("the pool has no replica 0".to_owned()))?;
        let file_size = opts.workload.file_size(clients);
        let name = format!("file-{clients}");
        let sha256 = fixture.add_file(&name, file_size, u64::from(clients))?;
        let url = pool.trickles_url(&name);
        let rss_before = resident_bytes(server_pid).unwrap_or(0);
        let spec = ClientSpec {
            url,
            output: None,
            stats_json: fixture.path().join(format!("rss-{clients}.stats.json")),
            idle_timeout: opts.idle_timeout,
            parallel: Some(clients),
            log: fixture.path().join(format!("rss-{clients}.log")),
            ..ClientSpec::default()
        };
        let mut client = ClientProcess::start(binaries, &topology.host("client"), spec)?;
        let start = Instant::now();
        let (mut rss_peak, mut samples) = (rss_before, 0usize);
        while !client.has_exited()? {
            interrupt::check()?;
            if let Some(rss) = resident_bytes(server_pid) {
                rss_peak = rss_peak.max(rss);
                samples += 1;
            }
            if start.elapsed() > opts.step_limit {
                return Err(LabError::timeout(
                    format!("{clients} concurrent transfers"),
                    opts.step_limit,
                ));
            }
            std::thread::sleep(SAMPLE_EVERY);
        }
        let report = client.finish_parallel(Duration::from_secs(5))?;
        if let Some(bad) = report
            .transfers
            .iter()
            .find(|t| t.sha256 != sha256 || t.bytes != file_size)
        {
            return Err(LabError::Mismatch {
                what: format!(
                    "one of {clients} concurrent transfers ({} bytes)",
                    bad.bytes
                ),
                expected: sha256,
                got: bad.sha256.clone(),
            });
        }
        eprintln!(
            "  {clients:>6} clients x {}: peak server RSS {} ({} samples), {:.1} MB/s aggregate",
            format_bytes(file_size),
            format_bytes(rss_peak),
            samples,
            report.totals.goodput_mbps / 8.0
        );
        steps.push(RssStep {
            clients,
            file_size,
            rss_before,
            rss_peak,
            samples,
            report,
        });
    }
    pool.stop()?;
    let out_dir = crate::fixture::output_dir(&opts.out_dir)?;
    let csv = out_dir.join("rss.csv");
    let mut text = String::from(
        "clients,file_bytes,rss_before_bytes,rss_peak_bytes,samples,total_bytes,seconds,aggregate_megabytes_per_second,retransmissions\n",
    );
    for s in &steps {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{:.6},{:.3},{}",
            s.clients,
            s.file_size,
            s.rss_before,
            s.rss_peak,
            s.samples,
            s.report.totals.bytes,
            s.report.totals.seconds,
            s.report.totals.goodput_mbps / 8.0,
            s.report.totals.retransmissions
        );
    }
    std::fs::write(&csv, text).map_err(|e| LabError::io(&csv, e))?;
    Ok(RssBenchOutcome { steps, csv })
}

/// The human report.
pub fn report(outcome: &RssBenchOutcome, opts: &RssBenchOptions) -> String {
    let mut text = String::new();
    let workload = match opts.workload {
        RssWorkload::FilePerClient(size) => format!("{} per client", format_bytes(size)),
        RssWorkload::TotalPerStep(total) => format!("{} in all per step", format_bytes(total)),
    };
    let _ = writeln!(
        text,
        "server RSS during concurrent downloads ({workload}) over {} loopback, {}:",
        opts.ip,
        if opts.fresh_server {
            "a fresh server process per step"
        } else {
            "one server process for all steps"
        }
    );
    let _ = writeln!(
        text,
        "  {:>7}  {:>10}  {:>12}  {:>12}  {:>10}  {:>9}",
        "clients", "each", "RSS before", "peak RSS", "MB/s", "retrans."
    );
    for s in &outcome.steps {
        let _ = writeln!(
            text,
            "  {:>7}  {:>10}  {:>12}  {:>12}  {:>10.1}  {:>9}",
            s.clients,
            format_bytes(s.file_size),
            format_bytes(s.rss_before),
            format_bytes(s.rss_peak),
            s.report.totals.goodput_mbps / 8.0,
            s.report.totals.retransmissions
        );
    }
    if let (Some(first), Some(last)) = (outcome.steps.first(), outcome.steps.last()) {
        if outcome.steps.len() > 1 && first.rss_peak > 0 {
            let ratio = last.rss_peak as f64 / first.rss_peak as f64;
            let _ = writeln!(
                text,
                "  peak RSS at {} clients / at {} clients = {:.3} ({}within 10 %)",
                last.clients,
                first.clients,
                ratio,
                if (ratio - 1.0).abs() <= 0.10 {
                    ""
                } else {
                    "NOT "
                }
            );
        }
    }
    let _ = writeln!(text, "  data: {}", outcome.csv.display());
    text
}
