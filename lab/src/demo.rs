//! `trickles-lab demo`: the README's loopback demonstration, no root needed.
//!
//! By default ([`default_front_end`]) the whole network-functions chain runs as real
//! processes: `trickles-client --via` → `trickles-mirror` (an emulated WAN path,
//! [`DEFAULT_WAN_DELAY_MS`] each way, no loss) → `trickles-balancer` (Maglev) → three
//! `trickles-server` replicas sharing one key. The client fetches a file of seeded random
//! bytes; at about a third of the transfer the replica serving it is SIGKILLed; the balancer's
//! health checks take it out of the table, a surviving replica resumes the connection from the
//! client's continuations, and a second later a new process with the same key takes the
//! killed one's port and rejoins the table. The client (the same process throughout) finishes;
//! the lab checks the SHA-256, prints what happened when and the stall it caused, and writes
//! the delivery trace (CSV) and a throughput-over-time plot (PNG, SVG) with the events marked.
//!
//! Other [`FrontEnd`]s are selectable: one replica reached directly (killed and replaced), the
//! lab's alternating relay, or the balancer without the mirror. The scenario only asks the pool
//! for its URL, the mirror to send through, and to kill and replace a replica.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::measure::delivery::write_throughput_csv;
use crate::observe;
use crate::plot::{write_throughput_plot, PlotFiles, ThroughputPlot};
use crate::pool::failover::{fetch_through_failover, FailoverRun};
use crate::pool::{FrontEnd, Pool, PoolSpec};
use crate::schedule::{Action, FailureSchedule, Target, Trigger};
use crate::service::balancer::PolicyFile;
use crate::service::client::ClientSpec;
use crate::service::mirror::EmulatedWan;
use crate::topology::Topology;

/// The mirror's default one-way delay, each direction: a 20 ms round trip, a regional WAN.
/// Long enough that the recovery after the kill is paced by round trips as on a real path,
/// short enough that 64 MiB still take seconds, not minutes.
pub const DEFAULT_WAN_DELAY_MS: f64 = 10.0;
/// The mirror's default loss: none, so that the only stall in the plot is the kill's (the
/// `chain` command runs the lossy path).
pub const DEFAULT_WAN_LOSS: f64 = 0.0;
/// Replicas behind the balancer by default.
pub const DEFAULT_REPLICAS: usize = 3;

/// The default front end: a Maglev balancer behind a mirror with the default path, whose
/// random draws use `seed`.
pub fn default_front_end(seed: u64) -> FrontEnd {
    FrontEnd::MirroredBalancer(
        PolicyFile::Maglev,
        EmulatedWan {
            delay_ms: DEFAULT_WAN_DELAY_MS,
            loss: DEFAULT_WAN_LOSS,
            seed,
        },
    )
}

/// The demo's settings (CLI flags).
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Size of the served file.
    pub size: u64,
    /// Seed of its pseudo-random content.
    pub seed: u64,
    /// Kill the replica when this fraction of the file has been delivered.
    pub kill_at: f64,
    /// Start the replacement this long after the kill.
    pub restart_after: Duration,
    /// What the client talks to.
    pub front_end: FrontEnd,
    /// Number of replicas (1 for a direct front end, [`DEFAULT_REPLICAS`] by default).
    pub replicas: usize,
    /// Loopback address (127.0.0.1 or ::1).
    pub ip: IpAddr,
    /// UDP port of the replica (`None`: ephemeral).
    pub port: Option<u16>,
    /// Where the CSV and plots go.
    pub out_dir: PathBuf,
    /// Keep the temporary directory (key, file, logs, download).
    pub keep_temp: bool,
    /// The whole run must end within this.
    pub limit: Duration,
    /// Run a real Prometheus scraping every component, and draw the failover overview
    /// dashboard from its answers (`failover-overview.png` / `.svg`).
    pub observe: bool,
}

/// What the demo measured and wrote.
#[derive(Debug)]
pub struct DemoOutcome {
    /// What the client fetched through, e.g. "mirror (…) → maglev balancer → 3 replicas".
    pub pool: String,
    /// The failover run.
    pub run: FailoverRun,
    /// The served file's SHA-256 (equal to the client's, or the demo failed).
    pub sha256: String,
    /// Throughput bin width used for the CSV and plot, seconds.
    pub bin_seconds: f64,
    /// The plots.
    pub plots: PlotFiles,
    /// `delivery.csv` (samples) and `throughput.csv` (bins).
    pub csv: [PathBuf; 2],
    /// The temporary directory, if kept.
    pub kept: Option<PathBuf>,
    /// With `observe`: the failover overview drawn from Prometheus.
    pub dashboard: Option<crate::dashboard_render::RenderedDashboard>,
}

/// Runs the demo.
pub fn run_demo(binaries: &Binaries, opts: &DemoOptions) -> Result<DemoOutcome> {
    if !(opts.kill_at > 0.0 && opts.kill_at < 1.0) {
        return Err(LabError::Usage(
            "--kill-at must be between 0 and 1".to_owned(),
        ));
    }
    if opts.replicas == 0 || (opts.front_end == FrontEnd::Direct && opts.replicas != 1) {
        return Err(LabError::Usage(
            "a direct front end has exactly one replica; more need another --front-end".to_owned(),
        ));
    }
    let mut fixture = ServiceFixture::new(binaries)?;
    // Kept from the start, so the logs survive a failed run too.
    let kept = opts.keep_temp.then(|| fixture.keep());
    eprintln!(
        "demo: writing a {} test file in {}",
        format_bytes(opts.size),
        fixture.path().display()
    );
    let sha256 = fixture.add_file("file", opts.size, opts.seed)?;
    let topology = Topology::loopback(opts.ip)?;
    let mut pool = Pool::start(
        binaries,
        &topology,
        &fixture,
        PoolSpec {
            first_port: opts.port,
            ..PoolSpec::new(opts.replicas, opts.front_end)
        },
    )?;
    let url = pool.trickles_url("file");
    let pool_name = opts.front_end.describe(opts.replicas);
    eprintln!("demo: client → {pool_name} serving {url}; starting the client");
    let download = fixture.path().join("download");
    let mut client = ClientSpec::single(url, download, fixture.path(), "client");
    client.via = pool.via();
    let client_host = topology.host("client");
    let mut observer = None;
    let client_started = match opts.observe {
        true => observe::watch_pool(&mut observer, &topology, &pool, &mut client, &client_host)?,
        false => observe::unix_now(),
    };
    let victim = match opts.front_end {
        FrontEnd::Direct => Target::Replica(0),
        _ => Target::Serving,
    };
    let schedule = FailureSchedule::at(
        Trigger::Delivered((opts.size as f64 * opts.kill_at) as u64),
        Action::Kill(victim.clone()),
    )
    .then(
        Trigger::After(opts.restart_after.as_secs_f64()),
        Action::Restart(victim),
    );
    let run = fetch_through_failover(
        binaries,
        &mut pool,
        &client_host,
        client,
        &schedule,
        opts.limit,
        &sha256,
    )?;
    let dashboard = match &observer {
        Some(observer) => {
            let stem = crate::fixture::output_dir(&opts.out_dir)?.join("failover-overview");
            Some(observer.draw_overview(client_started, &stem)?)
        }
        None => None,
    };
    pool.stop()?;
    check_digest("the client's stats", &sha256, &run.transfer.stats.sha256)?;
    check_digest("the downloaded file", &sha256, &run.output_sha256)?;

    let out_dir = crate::fixture::output_dir(&opts.out_dir)?;
    let trace = &run.transfer.trace;
    let bin_seconds = bin_width(run.transfer.stats.seconds);
    let points = trace.throughput(bin_seconds);
    let csv = [out_dir.join("delivery.csv"), out_dir.join("throughput.csv")];
    trace.write_csv(&csv[0])?;
    write_throughput_csv(&points, &csv[1])?;
    let title = format!(
        "trickles demo: {}, client → {pool_name}",
        format_bytes(opts.size)
    );
    let plots = write_throughput_plot(
        &out_dir.join("throughput"),
        &ThroughputPlot {
            title: &title,
            points: &points,
            events: trace.events(),
        },
    )?;
    Ok(DemoOutcome {
        pool: pool_name,
        run,
        sha256,
        bin_seconds,
        plots,
        csv,
        kept,
        dashboard,
    })
}

fn check_digest(what: &str, expected: &str, got: &str) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(LabError::Mismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            got: got.to_owned(),
        })
    }
}

/// About 200 bins over the transfer, at least 50 ms (five samples) each.
fn bin_width(seconds: f64) -> f64 {
    (seconds / 200.0).max(0.05)
}
