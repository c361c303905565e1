//! `trickles-lab demo`: the README's loopback demonstration, no root needed.
//!
//! A pool of one replica serves a file of seeded random bytes; a client fetches it; at about a
//! third of the transfer the replica is SIGKILLed and, a second later, a new process with the
//! same key takes the same port. The client (the same process throughout) finishes; the lab
//! checks the SHA-256, prints a short report, and writes the delivery trace (CSV) and a
//! throughput-over-time plot (PNG, SVG) into the output directory.
//!
//! With `--front-end balancer`, the pool is several replicas behind a `trickles-balancer`
//! process: the replica serving the transfer is the one killed, the balancer's health checks
//! take it out of the table, the surviving replicas carry on, and the replacement rejoins.
//! The scenario only asks the pool for its URL and to kill and replace a replica; a mirror in
//! front is the next [`FrontEnd`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
use crate::client_process::ClientSpec;
use crate::delivery_trace::write_throughput_csv;
use crate::error::{LabError, Result};
use crate::failover::{fetch_through_failover, FailoverRun, FailurePlan, Victim};
use crate::fixture::ServiceFixture;
use crate::plot::{write_throughput_plot, PlotFiles, ThroughputPlot};
use crate::replica_pool::{FrontEnd, PoolConfig, ReplicaPool};
use crate::test_file::sha256_file;

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
    /// Number of replicas (1 for a direct front end).
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
}

/// What the demo measured and wrote.
#[derive(Debug)]
pub struct DemoOutcome {
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
            "a direct front end has exactly one replica; more need --front-end balancer".to_owned(),
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
    let mut pool = ReplicaPool::start(
        binaries,
        PoolConfig {
            ip: opts.ip,
            replicas: opts.replicas,
            first_port: opts.port,
            root: fixture.root().to_path_buf(),
            key_file: fixture.key_file().to_path_buf(),
            http_baseline: false,
            workers: None,
            log_dir: fixture.path().to_path_buf(),
            front_end: opts.front_end,
        },
    )?;
    let url = pool.trickles_url("file");
    let pool_name = match opts.front_end {
        FrontEnd::Direct => "one replica".to_owned(),
        FrontEnd::AlternatingRelay => format!("{} replicas, alternating", opts.replicas),
        FrontEnd::Balancer(policy) => {
            format!(
                "{} replicas behind a {} balancer",
                opts.replicas,
                policy.yaml_name()
            )
        }
        FrontEnd::MirroredBalancer(policy, wan) => {
            format!(
                "{} replicas behind a {} balancer behind a mirror ({})",
                opts.replicas,
                policy.yaml_name(),
                wan.describe()
            )
        }
    };
    eprintln!("demo: {pool_name} serving {url}; starting the client");
    let download = fixture.path().join("download");
    let client = ClientSpec::single(url, download.clone(), fixture.path(), "client");
    let plan = FailurePlan {
        victim: match opts.front_end {
            FrontEnd::Direct => Victim::Replica(0),
            _ => Victim::Busiest,
        },
        kill_at_bytes: (opts.size as f64 * opts.kill_at) as u64,
        restart_after: Some(opts.restart_after),
        limit: opts.limit,
    };
    let run = fetch_through_failover(binaries, &mut pool, client, &plan)?;
    pool.stop()?;

    check_digest("the client's stats", &sha256, &run.stats.sha256)?;
    check_digest("the downloaded file", &sha256, &sha256_file(&download)?)?;

    let out_dir = crate::fixture::output_dir(&opts.out_dir)?;
    let bin_seconds = bin_width(run.stats.seconds);
    let points = run.trace.throughput(bin_seconds);
    let csv = [out_dir.join("delivery.csv"), out_dir.join("throughput.csv")];
    run.trace.write_csv(&csv[0])?;
    write_throughput_csv(&points, &csv[1])?;
    let title = format!(
        "trickles demo: {} over loopback, {pool_name}, a replica killed and replaced",
        format_bytes(opts.size)
    );
    let plots = write_throughput_plot(
        &out_dir.join("throughput"),
        &ThroughputPlot {
            title: &title,
            points: &points,
            events: run.trace.events(),
        },
    )?;
    Ok(DemoOutcome {
        run,
        sha256,
        bin_seconds,
        plots,
        csv,
        kept,
    })
}

/// The human report.
pub fn report(outcome: &DemoOutcome) -> String {
    let stats = &outcome.run.stats;
    let mut text = String::new();
    text.push_str(&format!(
        "transferred   {} ({} bytes), sha256 equal to the served file ({}…)\n",
        format_bytes(stats.bytes),
        stats.bytes,
        &outcome.sha256[..16.min(outcome.sha256.len())]
    ));
    text.push_str(&format!(
        "time          {:.3} s, goodput {:.1} MB/s ({:.1} Mb/s)\n",
        stats.seconds,
        stats.goodput_mbps / 8.0,
        stats.goodput_mbps
    ));
    text.push_str(&format!(
        "failure       replica {} killed at {:.3} s (after {}), replacement healthy at {}\n",
        outcome.run.replica,
        outcome.run.killed_at,
        format_bytes(outcome.run.delivered_at_kill),
        outcome
            .run
            .restarted_at
            .map_or_else(|| "(none)".to_owned(), |t| format!("{t:.3} s"))
    ));
    if let Some((from, to)) = outcome.run.stall_after_kill {
        let relative = match outcome.run.restarted_at {
            Some(up) if to >= up => {
                format!(", {:.0} ms after the replacement was up", (to - up) * 1e3)
            }
            Some(up) => format!(", {:.0} ms before the replacement was up", (up - to) * 1e3),
            None => String::new(),
        };
        text.push_str(&format!(
            "recovery      no deliveries from {from:.3} s to {to:.3} s ({:.0} ms){relative}\n",
            (to - from) * 1e3
        ));
    }
    text.push_str(&format!(
        "stall         longest gap between deliveries {:.0} ms (client's stats)\n",
        stats.longest_stall_ms
    ));
    text.push_str(&format!(
        "retransmitted {} packets\n",
        stats.retransmissions
    ));
    text.push_str(&format!(
        "plot          {}\n              {}{}\n",
        outcome.plots.png.display(),
        outcome.plots.svg.display(),
        if outcome.plots.has_text {
            ""
        } else {
            " (no font found: drawn without text)"
        }
    ));
    text.push_str(&format!(
        "data          {} (samples), {} ({:.0} ms bins)\n",
        outcome.csv[0].display(),
        outcome.csv[1].display(),
        outcome.bin_seconds * 1e3
    ));
    if let Some(kept) = &outcome.kept {
        text.push_str(&format!("kept          {}\n", kept.display()));
    }
    text
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
