//! `trickles-lab exp failover`: the paper's server-failover figure. A client host and a
//! server host across a shaped bottleneck; one transfer per protocol, during which the server
//! process is SIGKILLed at t = `--kill-at` and a new one (same key, same address and ports) is
//! started `--restart-delay` later. Trickles uses the unmodified client (`trickles-client get
//! trickles://...`); TCP the same client with `--http-range-resume`, which reconnects and
//! continues with `Range: bytes=N-`. Trickles runs first, then TCP, on the same testbed.
//!
//! Reported per protocol: bytes and SHA-256 against the served file, and the recovery
//! ([`super::recovery`]: stall, time to the first byte after it, time to goodput back at 80 % of
//! the pre-kill goodput). Written: `failover.csv` (goodput per 100 ms bin, both protocols),
//! `failover-samples.csv` (the raw delivery samples), `failover-summary.csv` (the table), and
//! `failover.png` / `.svg` (both lines, the kill marked).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::context::{start_server, url, BaseArgs, Context, Protocol};
use super::recovery::{analyse, legend, Recovery, RECOVERY_RULE};
use super::results_table::ResultTable;
use super::tcp_congestion;
use super::timed_transfer::{run_timed_transfer, TimedTransfer};
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::client_process::ClientSpec;
use crate::delivery_trace::{DeliveryTrace, ThroughputPoint, TraceEvent};
use crate::error::{LabError, Result};
use crate::plot::{write_throughput_series_plot, PlotFiles, ThroughputSeries};
use crate::server_process::ServerProcess;
use crate::test_file::sha256_file;
use crate::testbed::StarTestbed;

/// The served file's name.
const FILE: &str = "failover.bin";
/// Width of the goodput bins in the CSV and the plot.
const BIN_SECONDS: f64 = 0.1;
/// The client's `--timeout`: longer than any stall we expect, so a slow recovery is measured
/// rather than cut off.
const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags of `trickles-lab exp failover` (defaults: the default size).
#[derive(Clone, Debug, Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// Bottleneck rate toward the client, Mbit/s (a token bucket where the router forwards).
    #[arg(long, default_value_t = 50.0)]
    pub rate_mbit: f64,
    /// The bottleneck's queue (the token bucket's limit).
    #[arg(long, default_value = "128KiB", value_parser = parse_byte_size)]
    pub queue: u64,
    /// Size of the served file (at the default rate: 20 s of transfer).
    #[arg(long, default_value = "125MB", value_parser = parse_byte_size)]
    pub size: u64,
    /// Seconds after the client's start when the server process is SIGKILLed.
    #[arg(long, default_value_t = 10.0)]
    pub kill_at: f64,
    /// Seconds between the kill and the start of the new server (0: at once).
    #[arg(long, default_value_t = 0.0)]
    pub restart_delay: f64,
    /// Kernel TCP congestion control, set in every namespace of the testbed.
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Seed of the served file's pseudo-random content.
    #[arg(long, default_value_t = 2005)]
    pub seed: u64,
    /// Seconds one transfer may take before the run fails.
    #[arg(long, default_value_t = 120.0)]
    pub transfer_limit: f64,
}

impl FailoverArgs {
    /// The reduced size CI runs: 20 Mbit/s, 16 MB, kill at 2.5 s (7 to 9 s per transfer).
    pub fn reduced(base: BaseArgs) -> Self {
        FailoverArgs {
            base,
            rate_mbit: 20.0,
            queue: 128 << 10,
            size: 16_000_000,
            kill_at: 2.5,
            restart_delay: 0.0,
            tcp_cc: "reno".to_owned(),
            seed: 2005,
            transfer_limit: 60.0,
        }
    }

    fn validate(&self) -> Result<()> {
        super::timed_transfer::check_kill_schedule(
            self.rate_mbit,
            self.size,
            self.kill_at,
            self.transfer_limit,
            "--restart-delay",
            self.restart_delay,
        )
    }
}

/// One protocol's transfer through the failover.
#[derive(Clone, Debug)]
pub struct ProtocolRun {
    /// Which protocol.
    pub protocol: Protocol,
    /// The client's statistics and the delivery trace (with the kill and restart events).
    pub transfer: TimedTransfer,
    /// The SHA-256 of the client's output file.
    pub output_sha256: String,
    /// Whether the output and the client's digest are the served file's.
    pub byte_exact: bool,
    /// Seconds after the client's start when the server was killed.
    pub killed_at: f64,
    /// Seconds after the client's start when the new server was healthy.
    pub restarted_at: Option<f64>,
    /// The recovery read off the trace.
    pub recovery: Recovery,
}

/// What `exp failover` measured and wrote.
#[derive(Clone, Debug)]
pub struct FailoverOutcome {
    /// Trickles first, then TCP.
    pub runs: Vec<ProtocolRun>,
    /// The served file's SHA-256.
    pub expected_sha256: String,
    /// The summary table (also printed).
    pub table: ResultTable,
    /// `failover.csv`.
    pub csv: PathBuf,
    /// `failover.png` / `.svg`.
    pub plot: PlotFiles,
    /// The kept temporary directory (`--keep-temp`).
    pub kept: Option<PathBuf>,
}

/// Runs the experiment, prints the table, writes the files.
pub fn run(args: &FailoverArgs) -> Result<FailoverOutcome> {
    args.validate()?;
    let context = Context::new("failover", &args.base, Profile::Release, false)?;
    let expected_sha256 = context.fixture.add_file(FILE, args.size, args.seed)?;
    let testbed = StarTestbed::build(&["client", "server"])?;
    tcp_congestion::use_everywhere(&testbed, &args.tcp_cc)?;
    testbed.shape_toward("client", (args.rate_mbit * 1e6) as u64, args.queue)?;

    let mut runs = Vec::with_capacity(Protocol::BOTH.len());
    for protocol in Protocol::BOTH {
        let run = run_protocol(&context, &testbed, args, protocol, &expected_sha256)?;
        runs.push(run);
    }
    drop(testbed);

    let table = summary_table(&runs, &expected_sha256);
    let csv = context.result_path("failover.csv");
    write_binned_csv(&runs, &csv)?;
    write_samples_csv(&runs, &context.result_path("failover-samples.csv"))?;
    table.write_csv(&context.result_path("failover-summary.csv"))?;
    let plot = write_plot(&runs, args, &context.result_path("failover"))?;
    print!("{}", table.render());
    print!("{}", legend(RECOVERY_RULE));
    println!(
        "wrote {}, {}, {}",
        csv.display(),
        plot.png.display(),
        plot.svg.display()
    );
    let kept = context.finish();
    if let Some(dir) = &kept {
        println!("kept {}", dir.display());
    }
    Ok(FailoverOutcome {
        runs,
        expected_sha256,
        table,
        csv,
        plot,
        kept,
    })
}

/// One transfer of `protocol`, its server killed and replaced on schedule.
fn run_protocol(
    context: &Context,
    testbed: &StarTestbed,
    args: &FailoverArgs,
    protocol: Protocol,
    expected_sha256: &str,
) -> Result<ProtocolRun> {
    let label = protocol.label().to_ascii_lowercase();
    let server_host = testbed.host("server");
    let client_host = testbed.host("client");
    let mut server: Option<ServerProcess> = Some(start_server(
        context,
        server_host,
        &format!("{label}-server-0"),
    )?);
    let output = context.temp_path(&format!("{label}.download"));
    let client = ClientSpec {
        idle_timeout: CLIENT_IDLE_TIMEOUT,
        ..ClientSpec::single(
            url(protocol, server_host.address(context.family), FILE),
            output.clone(),
            context.fixture.path(),
            &format!("{label}-client"),
        )
    };
    let flags: &[&str] = match protocol {
        Protocol::Trickles => &[],
        Protocol::Tcp => &["--http-range-resume"],
    };
    let mut killed_at: Option<f64> = None;
    let mut restarted_at: Option<f64> = None;
    let transfer = run_timed_transfer(
        &context.binaries,
        client,
        flags,
        &client_host.handle(),
        Duration::from_secs_f64(args.transfer_limit),
        |timeline| {
            let now = timeline.seconds();
            if killed_at.is_none() && now >= args.kill_at {
                if let Some(mut process) = server.take() {
                    process.kill_hard()?;
                }
                killed_at =
                    Some(timeline.record(format!("{}: server SIGKILLed", protocol.label())));
            }
            if let (Some(kill), None) = (killed_at, restarted_at) {
                if now >= kill + args.restart_delay {
                    server = Some(start_server(
                        context,
                        server_host,
                        &format!("{label}-server-1"),
                    )?);
                    restarted_at = Some(timeline.record(format!(
                        "{}: new server healthy (same key, address, ports)",
                        protocol.label()
                    )));
                }
            }
            match server.as_mut() {
                Some(process) => process.check_running(),
                None => Ok(()),
            }
        },
    )?;
    if let Some(process) = server.take() {
        process.stop()?;
    }
    let Some(killed_at) = killed_at else {
        return Err(LabError::Usage(format!(
            "the {} transfer ended ({} bytes in {:.1} s) before the kill at {} s: raise --size \
             or lower --rate-mbit",
            protocol.label(),
            transfer.stats.bytes,
            transfer.stats.seconds,
            args.kill_at
        )));
    };
    let output_sha256 = sha256_file(&output)?;
    // The download has been hashed; free the disk space before the next transfer.
    let _ = std::fs::remove_file(&output);
    let byte_exact = output_sha256 == expected_sha256 && transfer.stats.sha256 == expected_sha256;
    let recovery = analyse(&transfer.trace, killed_at, RECOVERY_RULE);
    Ok(ProtocolRun {
        protocol,
        transfer,
        output_sha256,
        byte_exact,
        killed_at,
        restarted_at,
        recovery,
    })
}

/// `"123"` milliseconds, or `"never"`.
fn millis(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "never".to_owned(), |s| format!("{:.0}", s * 1e3))
}

fn summary_table(runs: &[ProtocolRun], expected_sha256: &str) -> ResultTable {
    let mut table = ResultTable::new(&[
        "protocol",
        "bytes",
        "byte_exact",
        "seconds",
        "pre_kill_MBps",
        "drained_MB",
        "outage_ms",
        "resumed_after_ms",
        "recovered_after_ms",
        "time_lost_ms",
        "longest_stall_ms",
        "client_longest_stall_ms",
        "restarted_after_ms",
        "reconnects",
    ]);
    for run in runs {
        let stats = &run.transfer.stats;
        let recovery = &run.recovery;
        table.push(vec![
            run.protocol.label().to_owned(),
            stats.bytes.to_string(),
            if run.byte_exact {
                "yes".to_owned()
            } else {
                format!("NO (sha256 {} != {expected_sha256})", run.output_sha256)
            },
            format!("{:.2}", stats.seconds),
            format!("{:.2}", recovery.pre_kill_mb_per_s),
            format!("{:.2}", recovery.drained_bytes as f64 / 1e6),
            format!("{:.0}", recovery.outage_seconds() * 1e3),
            millis(Some(recovery.resumed_after)),
            millis(recovery.recovered_after),
            millis(recovery.time_lost),
            format!("{:.0}", recovery.longest_stall_seconds() * 1e3),
            format!("{:.0}", stats.longest_stall_ms),
            millis(run.restarted_at.map(|t| t - run.killed_at)),
            stats.reconnects.to_string(),
        ]);
    }
    table
}

fn binned(trace: &DeliveryTrace) -> Vec<ThroughputPoint> {
    trace.throughput(BIN_SECONDS)
}

/// `seconds,trickles_MBps,tcp_MBps`: goodput per bin; a protocol whose transfer has ended
/// leaves its cell empty.
fn write_binned_csv(runs: &[ProtocolRun], path: &std::path::Path) -> Result<()> {
    let series: Vec<Vec<ThroughputPoint>> =
        runs.iter().map(|r| binned(&r.transfer.trace)).collect();
    let mut text = String::from("seconds");
    for run in runs {
        let _ = write!(text, ",{}_MBps", run.protocol.label().to_ascii_lowercase());
    }
    text.push('\n');
    let rows = series.iter().map(Vec::len).max().unwrap_or(0);
    for row in 0..rows {
        let _ = write!(text, "{:.2}", (row as f64 + 0.5) * BIN_SECONDS);
        for points in &series {
            match points.get(row) {
                Some(point) => {
                    let _ = write!(text, ",{:.3}", point.megabytes_per_second);
                }
                None => text.push(','),
            }
        }
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

/// `protocol,seconds,delivered_bytes` for every sample, then the events as `# ` lines.
fn write_samples_csv(runs: &[ProtocolRun], path: &std::path::Path) -> Result<()> {
    let mut text = String::from("protocol,seconds,delivered_bytes\n");
    for run in runs {
        for (seconds, bytes) in run.transfer.trace.samples() {
            let _ = writeln!(text, "{},{seconds:.4},{bytes}", run.protocol.label());
        }
    }
    for run in runs {
        for event in run.transfer.trace.events() {
            let _ = writeln!(text, "# event {:.4} {}", event.seconds, event.label);
        }
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

fn write_plot(
    runs: &[ProtocolRun],
    args: &FailoverArgs,
    stem: &std::path::Path,
) -> Result<PlotFiles> {
    let points: Vec<Vec<ThroughputPoint>> =
        runs.iter().map(|r| binned(&r.transfer.trace)).collect();
    let series: Vec<ThroughputSeries<'_>> = runs
        .iter()
        .zip(&points)
        .map(|(run, points)| ThroughputSeries {
            name: run.protocol.label(),
            points,
        })
        .collect();
    // One marker for the kill (the transfers' kills are within a few milliseconds of each
    // other), and when the restart is delayed, one for each new server.
    let mut events: Vec<TraceEvent> = runs
        .first()
        .map(|run| TraceEvent {
            seconds: run.killed_at,
            label: "server SIGKILLed".to_owned(),
        })
        .into_iter()
        .collect();
    if args.restart_delay > 0.0 {
        events.extend(runs.iter().filter_map(|run| {
            run.restarted_at.map(|seconds| TraceEvent {
                seconds,
                label: format!("{}: new server healthy", run.protocol.label()),
            })
        }));
    }
    let title = format!(
        "Server SIGKILLed at {} s and restarted: goodput, {} Mbit/s bottleneck",
        args.kill_at, args.rate_mbit
    );
    write_throughput_series_plot(stem, &title, &series, &events)
}
