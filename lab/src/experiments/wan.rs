//! `trickles-lab exp wan`: the paper's PlanetLab figure on an emulated wide area. The paper
//! sent transfers out to PlanetLab nodes and back through packet mirrors and grouped them by
//! round-trip time in 50 ms buckets (0–50 … 200–250 ms); here the mirror ([`MirroredTestbed`])
//! emulates each bucket's midpoint (25, 75, 125, 175, 225 ms: half of it each way, plus an
//! optional random loss), and one transfer of `--size` bytes at a time measures the goodput
//! of Trickles and of TCP over the same mirror path and the same bottleneck (100 Mbit/s, a
//! queue of one bandwidth-delay product of the bucket).
//!
//! Each bucket runs `--repeats` transfers per protocol, alternating, and reports the median
//! (and the range). Every transfer is checked byte-exact (the client's SHA-256 against the
//! served file's).
//!
//! Default size: 16 MiB per transfer (at 100 Mbit/s at least 1.3 s, so the 25 ms bucket
//! measures the path's rate, while slow start costs the 225 ms bucket about ten round trips),
//! 3 × 2 transfers per bucket: about 2 minutes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::context::{BaseArgs, Context, Protocol};
use super::mirrored_testbed::{EmulatedPath, MirroredSetup, MirroredTestbed};
use super::path_counters::PathCounters;
use super::repeat_summary::{median, range_text};
use super::report::Report;
use super::results_table::ResultTable;
use super::xy_plot::{Series, XyPlot};
use crate::binaries::Profile;
use crate::byte_size::{format_bytes, parse_byte_size};
use crate::error::{LabError, Result};
use crate::service::client::ClientSpec;

/// The served file.
const FILE: &str = "transfer";
/// The longest one transfer may take.
const TRANSFER_LIMIT: Duration = Duration::from_secs(180);

/// Flags of `trickles-lab exp wan`.
#[derive(Clone, Debug, Args)]
pub struct WanArgs {
    /// Shared flags.
    #[command(flatten)]
    pub base: BaseArgs,
    /// Round-trip times the mirror emulates, milliseconds (the buckets' midpoints).
    #[arg(long, value_delimiter = ',', default_value = "25,75,125,175,225")]
    pub rtt_ms: Vec<f64>,
    /// Random loss on the emulated path, each direction (e.g. 0.001).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// The bottleneck's rate, Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    pub rate_mbit: f64,
    /// The bottleneck's queue, in bandwidth-delay products of each bucket's round trip.
    #[arg(long, default_value_t = 1.0)]
    pub queue_bdp: f64,
    /// Bytes per transfer.
    #[arg(long, default_value = "16MiB", value_parser = parse_byte_size)]
    pub size: u64,
    /// Transfers per protocol and bucket (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: u32,
    /// Kernel TCP congestion control in the testbed (Trickles' window follows Reno).
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Seed of the served file and of the mirror's draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Binaries' profile (release from the command line; the tests use debug builds).
    #[arg(skip = Profile::Release)]
    pub profile: Profile,
}

impl WanArgs {
    /// The reduced size the CI test runs: buckets 25, 125 and 225 ms at 20 Mbit/s, one
    /// 1 MiB transfer per protocol and bucket.
    pub fn reduced(out: PathBuf) -> Self {
        WanArgs {
            base: BaseArgs::for_tests(out),
            rtt_ms: vec![25.0, 125.0, 225.0],
            loss: 0.0,
            rate_mbit: 20.0,
            queue_bdp: 1.0,
            size: 1 << 20,
            repeats: 1,
            tcp_cc: "reno".to_owned(),
            seed: 1,
            profile: Profile::Debug,
        }
    }
}

/// One bucket.
#[derive(Clone, Debug)]
pub struct WanBucket {
    /// The round trip the mirror emulated, milliseconds.
    pub rtt_ms: f64,
    /// The round trip of a TCP handshake through the mirror, milliseconds.
    pub measured_rtt_ms: f64,
    /// Goodput of every Trickles transfer, Mbit/s.
    pub trickles_mbps: Vec<f64>,
    /// Goodput of every TCP transfer, Mbit/s.
    pub tcp_mbps: Vec<f64>,
    /// What the path and the machinery dropped in the bucket.
    pub counters: PathCounters,
}

impl WanBucket {
    /// The median goodput of `protocol`'s transfers, Mbit/s.
    pub fn median_mbps(&self, protocol: Protocol) -> f64 {
        median(match protocol {
            Protocol::Trickles => &self.trickles_mbps,
            Protocol::Tcp => &self.tcp_mbps,
        })
    }
}

/// What the experiment measured.
#[derive(Clone, Debug)]
pub struct WanOutcome {
    /// One per bucket, in the order given.
    pub buckets: Vec<WanBucket>,
    /// The table and files.
    pub report: Report,
}

impl WanOutcome {
    /// The machinery's and the path's drops over every bucket.
    pub fn counters(&self) -> PathCounters {
        let mut total = PathCounters::default();
        for bucket in &self.buckets {
            total.add(&bucket.counters);
        }
        total
    }
}

/// Runs the experiment: prints the table, writes the CSV and the figures.
pub fn run(args: &WanArgs) -> Result<WanOutcome> {
    let profile = args.profile;
    validate(args)?;
    let context = Context::new("wan", &args.base, profile)?;
    let digest = context.fixture.add_file(FILE, args.size, args.seed)?;
    let rate_bits = (args.rate_mbit * 1e6) as u64;
    let queue = |rtt_ms: f64| (args.rate_mbit * 1e6 / 8.0 * rtt_ms / 1e3 * args.queue_bdp) as u64;
    let path = |rtt_ms: f64| EmulatedPath {
        one_way_delay_ms: rtt_ms / 2.0,
        loss: args.loss,
    };
    let first = args.rtt_ms[0];
    let setup = MirroredSetup {
        tcp_cc: args.tcp_cc.clone(),
        path: path(first),
        rate_bits,
        queue_bytes: queue(first),
        seed: args.seed,
    };
    let mut testbed = MirroredTestbed::build(&context, &setup)?;
    println!(
        "wan: {} per transfer, {} Mbit/s bottleneck (queue {} BDP), loss {}, TCP {}",
        format_bytes(args.size),
        args.rate_mbit,
        args.queue_bdp,
        args.loss,
        args.tcp_cc
    );
    let mut buckets = Vec::with_capacity(args.rtt_ms.len());
    for (i, &rtt_ms) in args.rtt_ms.iter().enumerate() {
        if i > 0 {
            testbed.set_path(path(rtt_ms))?;
            testbed.set_bottleneck(rate_bits, queue(rtt_ms))?;
        }
        let bucket = measure_bucket(&context, &mut testbed, args, rtt_ms, &digest)?;
        println!(
            "  {rtt_ms:>5} ms (measured {:6.1} ms): Trickles {:6.2} Mbit/s, TCP {:6.2} Mbit/s",
            bucket.measured_rtt_ms,
            bucket.median_mbps(Protocol::Trickles),
            bucket.median_mbps(Protocol::Tcp)
        );
        buckets.push(bucket);
    }
    drop(testbed);
    let plot = plot(&buckets, args).write(&context.result_path("wan"))?;
    let mut total = PathCounters::default();
    buckets
        .iter()
        .for_each(|bucket| total.add(&bucket.counters));
    let note = format!("path: {total}\n");
    let report = context.publish(table(&buckets), "wan.csv", &note, vec![plot.png, plot.svg])?;
    Ok(WanOutcome { buckets, report })
}

fn validate(args: &WanArgs) -> Result<()> {
    if args.rtt_ms.is_empty() || args.rtt_ms.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(LabError::Usage(
            "--rtt-ms needs positive round-trip times, e.g. 25,75,125".into(),
        ));
    }
    if !(args.loss.is_finite() && (0.0..0.5).contains(&args.loss)) {
        return Err(LabError::Usage(format!(
            "--loss must be in [0, 0.5), not {}",
            args.loss
        )));
    }
    for (flag, value) in [
        ("--rate-mbit", args.rate_mbit),
        ("--queue-bdp", args.queue_bdp),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(LabError::Usage(format!(
                "{flag} must be positive, not {value}"
            )));
        }
    }
    if args.size == 0 || args.repeats == 0 {
        return Err(LabError::Usage(
            "--size and --repeats must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The transfers of one bucket, protocols alternating.
fn measure_bucket(
    context: &Context,
    testbed: &mut MirroredTestbed,
    args: &WanArgs,
    rtt_ms: f64,
    digest: &str,
) -> Result<WanBucket> {
    let measured_rtt_ms = testbed.probe_rtt()?.as_secs_f64() * 1e3;
    let before = testbed.counters()?;
    let mut bucket = WanBucket {
        rtt_ms,
        measured_rtt_ms,
        trickles_mbps: Vec::new(),
        tcp_mbps: Vec::new(),
        counters: PathCounters::default(),
    };
    for repeat in 0..args.repeats {
        for protocol in Protocol::BOTH {
            let stem = format!("{}-{rtt_ms}-{repeat}", protocol.label().to_lowercase());
            let spec = ClientSpec::single(
                testbed.url(protocol, FILE),
                PathBuf::from("/dev/null"),
                context.fixture.path(),
                &stem,
            );
            let stats = testbed
                .start_client(context, protocol, spec)?
                .finish(TRANSFER_LIMIT)?;
            if stats.sha256 != digest || stats.bytes != args.size {
                return Err(LabError::Mismatch {
                    what: format!(
                        "{} transfer at {rtt_ms} ms ({} bytes)",
                        protocol.label(),
                        stats.bytes
                    ),
                    expected: digest.to_owned(),
                    got: stats.sha256,
                });
            }
            testbed.check_running()?;
            match protocol {
                Protocol::Trickles => bucket.trickles_mbps.push(stats.goodput_mbps),
                Protocol::Tcp => bucket.tcp_mbps.push(stats.goodput_mbps),
            }
        }
    }
    bucket.counters = testbed.counters()?.since(&before);
    Ok(bucket)
}

fn table(buckets: &[WanBucket]) -> ResultTable {
    let mut table = ResultTable::new(&[
        "rtt_ms",
        "measured_rtt_ms",
        "trickles_mbps",
        "tcp_mbps",
        "trickles_over_tcp",
        "trickles_range",
        "tcp_range",
        "emulated_losses",
        "bottleneck_drops",
        "machinery_losses",
    ]);
    for b in buckets {
        let (t, c) = (
            b.median_mbps(Protocol::Trickles),
            b.median_mbps(Protocol::Tcp),
        );
        table.push(vec![
            format!("{}", b.rtt_ms),
            format!("{:.1}", b.measured_rtt_ms),
            format!("{t:.2}"),
            format!("{c:.2}"),
            format!("{:.3}", t / c),
            range_text(&b.trickles_mbps),
            range_text(&b.tcp_mbps),
            b.counters.emulated_loss.to_string(),
            b.counters.bottleneck_drops.to_string(),
            b.counters.machinery_losses().to_string(),
        ]);
    }
    table
}

fn plot(buckets: &[WanBucket], args: &WanArgs) -> XyPlot {
    XyPlot {
        title: format!(
            "{} transfers by round-trip time through the mirror ({} Mbit/s, loss {})",
            format_bytes(args.size),
            args.rate_mbit,
            args.loss
        ),
        x_label: "round-trip time (ms, bucket midpoint)".to_owned(),
        y_label: "throughput (Mbit/s)".to_owned(),
        log_x: false,
        series: Protocol::BOTH
            .iter()
            .map(|&protocol| Series {
                name: protocol.label().to_owned(),
                points: buckets
                    .iter()
                    .map(|b| (b.rtt_ms, b.median_mbps(protocol)))
                    .collect(),
            })
            .collect(),
    }
}
