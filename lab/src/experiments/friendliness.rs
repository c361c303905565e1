//! `trickles-lab exp friendliness`: is Trickles TCP-friendly? One foreground flow (Trickles, or
//! TCP for the baseline) shares a bottleneck (100 Mbit/s, 20 ms round trip, a queue of one
//! bandwidth-delay product) with 0, 1, 2, 4, 8, 16 background TCP flows; per point, the
//! foreground's throughput against its fair share (rate / (n + 1)) and Jain's fairness index
//! over all n + 1 flows. The paper's claim: Trickles gets within 10 % of what TCP gets.
//!
//! Every flow crosses the same mirror ([`MirroredTestbed`]): Trickles with `--via`, TCP
//! through the tunnel endpoints. For each point and foreground protocol: the background
//! client (`--parallel n`, HTTP) starts; after `--background-warmup` the foreground starts;
//! after `--foreground-warmup` (its slow start) the window of `--window` seconds opens, and
//! every flow's bytes over exactly that window come from the sizes of the output files
//! ([`FlowMeter`]). Then every client is killed and the next run starts. Each point runs
//! `--repeats` times per protocol, protocols alternating; the tables and figures show the
//! medians, the CSV the ranges too.
//!
//! Default size: 24 runs of 2 + 2 + 8 s plus start-up, about 5 minutes. Eight seconds is four
//! Reno sawtooth cycles of a flow alone on this path (a window of ~180 packets halves and
//! regrows by one per 20 ms round trip: ~1.8 s per cycle), so shares average over several
//! cycles; two seconds of warm-up are some ten round trips past any slow start. One window per
//! point is not enough: which flow a run's congestion events hit varies, and single 10 s
//! windows were seen to move a point by ±20 %.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::checked_wait::wait_checking;
use super::context::{BaseArgs, Context, Protocol};
use super::flow_meter::{rates_mbps, FlowMeter};
use super::jain_index::jain_index;
use super::mirrored_testbed::{EmulatedPath, MirroredSetup, MirroredTestbed};
use super::path_counters::PathCounters;
use super::repeat_summary::{median, range_text};
use super::report::Report;
use super::results_table::ResultTable;
use super::xy_plot::{Series, XyPlot};
use crate::binaries::Profile;
use crate::error::{LabError, Result};
use crate::plot::PlotFiles;
use crate::service::client::ClientSpec;

/// The served file every flow downloads.
const FILE: &str = "bulk";
/// Seconds of transfer the served file must last beyond the planned run, at full rate.
const FILE_MARGIN_SECS: f64 = 5.0;

/// Flags of `trickles-lab exp friendliness`.
#[derive(Clone, Debug, Args)]
pub struct FriendlinessArgs {
    /// Shared flags.
    #[command(flatten)]
    pub base: BaseArgs,
    /// Numbers of background TCP flows, one point each.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8,16")]
    pub background: Vec<u32>,
    /// The bottleneck's rate, Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    pub rate_mbit: f64,
    /// The round trip the mirror emulates (half of it each way), milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub rtt_ms: f64,
    /// The bottleneck's queue, in bandwidth-delay products.
    #[arg(long, default_value_t = 1.0)]
    pub queue_bdp: f64,
    /// Seconds the background flows run alone before the foreground starts.
    #[arg(long, default_value_t = 2.0)]
    pub background_warmup: f64,
    /// Seconds from the foreground's start to the measurement window (its slow start).
    #[arg(long, default_value_t = 2.0)]
    pub foreground_warmup: f64,
    /// The measurement window, seconds.
    #[arg(long, default_value_t = 8.0)]
    pub window: f64,
    /// Runs per point and protocol (the median is reported).
    #[arg(long, default_value_t = 2)]
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

impl FriendlinessArgs {
    /// The reduced size the CI test runs: 0 and 2 background flows at 20 Mbit/s, one-second
    /// warm-ups, a three-second window, one run each (about 25 s in all).
    pub fn reduced(out: PathBuf) -> Self {
        FriendlinessArgs {
            base: BaseArgs::for_tests(out),
            background: vec![0, 2],
            rate_mbit: 20.0,
            rtt_ms: 20.0,
            queue_bdp: 1.0,
            background_warmup: 1.0,
            foreground_warmup: 1.0,
            window: 3.0,
            repeats: 1,
            tcp_cc: "reno".to_owned(),
            seed: 1,
            profile: Profile::Debug,
        }
    }
}

/// One foreground protocol at one number of background flows.
#[derive(Clone, Debug)]
pub struct FriendlinessRun {
    /// The foreground's protocol.
    pub protocol: Protocol,
    /// Background TCP flows.
    pub background: u32,
    /// Which repeat of the point (from 0).
    pub repeat: u32,
    /// The foreground's throughput over the window, Mbit/s.
    pub foreground_mbps: f64,
    /// Each background flow's throughput over the same window, Mbit/s.
    pub background_mbps: Vec<f64>,
    /// Jain's index over all n + 1 flows.
    pub jain: f64,
    /// What the path and the machinery dropped during the run.
    pub counters: PathCounters,
}

impl FriendlinessRun {
    /// The sum over all flows, Mbit/s.
    pub fn total_mbps(&self) -> f64 {
        self.foreground_mbps + self.background_mbps.iter().sum::<f64>()
    }
}

/// What the experiment measured.
#[derive(Clone, Debug)]
pub struct FriendlinessOutcome {
    /// Every run, in the order they ran (per point and repeat: Trickles, then TCP).
    pub runs: Vec<FriendlinessRun>,
    /// The bottleneck's rate, Mbit/s.
    pub rate_mbit: f64,
    /// The round trip measured through the mirror before the runs.
    pub measured_rtt: Duration,
    /// The table and files (`friendliness.png`, `friendliness-jain.png`, ...).
    pub report: Report,
}

impl FriendlinessOutcome {
    /// The runs of `protocol` with `background` flows (one per repeat).
    pub fn runs_of(&self, protocol: Protocol, background: u32) -> Vec<&FriendlinessRun> {
        runs_of(&self.runs, protocol, background)
    }

    /// The median foreground throughput of `protocol` with `background` flows, Mbit/s.
    pub fn foreground_mbps(&self, protocol: Protocol, background: u32) -> f64 {
        median_of(&self.runs, protocol, background, |r| r.foreground_mbps)
    }

    /// The machinery's and the path's drops over every run.
    pub fn counters(&self) -> PathCounters {
        let mut total = PathCounters::default();
        for run in &self.runs {
            total.add(&run.counters);
        }
        total
    }
}

/// Runs the experiment: prints the table, writes the CSV and the figures.
pub fn run(args: &FriendlinessArgs) -> Result<FriendlinessOutcome> {
    let profile = args.profile;
    validate(args)?;
    let context = Context::new("friendliness", &args.base, profile)?;
    let rate_bits = (args.rate_mbit * 1e6) as u64;
    let planned = args.background_warmup + args.foreground_warmup + args.window;
    let file_len = (args.rate_mbit * 1e6 / 8.0 * (planned + FILE_MARGIN_SECS)) as u64;
    context.fixture.add_file(FILE, file_len, args.seed)?;
    let setup = MirroredSetup {
        tcp_cc: args.tcp_cc.clone(),
        path: EmulatedPath {
            one_way_delay_ms: args.rtt_ms / 2.0,
            loss: 0.0,
        },
        rate_bits,
        queue_bytes: (args.rate_mbit * 1e6 / 8.0 * args.rtt_ms / 1e3 * args.queue_bdp) as u64,
        seed: args.seed,
    };
    let mut testbed = MirroredTestbed::build(&context, &setup)?;
    let measured_rtt = testbed.probe_rtt()?;
    println!(
        "friendliness: {} Mbit/s bottleneck, {} ms round trip through the mirror (measured {:.1} \
         ms), queue {} bytes, TCP {}",
        args.rate_mbit,
        args.rtt_ms,
        measured_rtt.as_secs_f64() * 1e3,
        setup.queue_bytes,
        args.tcp_cc
    );
    let mut runs = Vec::new();
    for &background in &args.background {
        for repeat in 0..args.repeats {
            for protocol in Protocol::BOTH {
                let run = measure(&context, &mut testbed, args, protocol, background, repeat)?;
                println!(
                    "  {:>8} + {background:>2} TCP (run {}): foreground {:6.2} Mbit/s, all \
                     flows {:6.2} Mbit/s, Jain {:.3}",
                    protocol.label(),
                    repeat + 1,
                    run.foreground_mbps,
                    run.total_mbps(),
                    run.jain
                );
                runs.push(run);
            }
        }
    }
    drop(testbed);
    let (throughput, jain) = plots(&context, &runs, args)?;
    let files = vec![throughput.png, throughput.svg, jain.png, jain.svg];
    let mut total = PathCounters::default();
    runs.iter().for_each(|run| total.add(&run.counters));
    let table = table(&runs, args.rate_mbit);
    let report = context.publish(
        table,
        "friendliness.csv",
        &format!("path: {total}\n"),
        files,
    )?;
    Ok(FriendlinessOutcome {
        runs,
        rate_mbit: args.rate_mbit,
        measured_rtt,
        report,
    })
}

fn validate(args: &FriendlinessArgs) -> Result<()> {
    let positive = [
        ("--rate-mbit", args.rate_mbit),
        ("--rtt-ms", args.rtt_ms),
        ("--queue-bdp", args.queue_bdp),
        ("--window", args.window),
        ("--repeats", f64::from(args.repeats)),
    ];
    for (flag, value) in positive {
        if !(value.is_finite() && value > 0.0) {
            return Err(LabError::Usage(format!(
                "{flag} must be positive, not {value}"
            )));
        }
    }
    for (flag, value) in [
        ("--background-warmup", args.background_warmup),
        ("--foreground-warmup", args.foreground_warmup),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(LabError::Usage(format!(
                "{flag} must be at least 0, not {value}"
            )));
        }
    }
    if args.background.is_empty() {
        return Err(LabError::Usage(
            "--background needs at least one count".into(),
        ));
    }
    if args.background.iter().any(|&n| n > 256) {
        return Err(LabError::Usage("--background: at most 256 flows".into()));
    }
    Ok(())
}

/// One run: background flows, then the foreground, then the window.
fn measure(
    context: &Context,
    testbed: &mut MirroredTestbed,
    args: &FriendlinessArgs,
    protocol: Protocol,
    background: u32,
    repeat: u32,
) -> Result<FriendlinessRun> {
    let stem = format!("{}-{background}-{repeat}", protocol.label().to_lowercase());
    let dir = context.fixture.path();
    let before = testbed.counters()?;
    let mut meter = FlowMeter::new();
    let foreground_spec = ClientSpec::single(
        testbed.url(protocol, FILE),
        dir.join(format!("fg-{stem}")),
        dir,
        &format!("fg-{stem}"),
    );
    meter.add_client(&foreground_spec);
    let mut clients = Vec::new();
    if background > 0 {
        let mut spec = ClientSpec::single(
            testbed.url(Protocol::Tcp, FILE),
            dir.join(format!("bg-{stem}")),
            dir,
            &format!("bg-{stem}"),
        );
        spec.parallel = Some(background);
        meter.add_client(&spec);
        clients.push(testbed.start_client(context, Protocol::Tcp, spec)?);
        let mut check = || check_all(testbed, &mut clients);
        wait_checking(secs(args.background_warmup), &mut check)?;
    }
    clients.push(testbed.start_client(context, protocol, foreground_spec)?);
    wait_checking(secs(args.foreground_warmup), || {
        check_all(testbed, &mut clients)
    })?;
    let opened = meter.sample();
    wait_checking(secs(args.window), || check_all(testbed, &mut clients))?;
    let closed = meter.sample();
    drop(clients);
    meter.remove_files();
    let counters = testbed.counters()?.since(&before);
    let rates = rates_mbps(&opened, &closed);
    let (foreground, background_rates) = rates.split_first().expect("the foreground flow");
    let jain = jain_index(&rates).ok_or_else(|| {
        LabError::Usage(format!(
            "{} with {background} background flows: no flow delivered anything in the window \
         ({counters})",
            protocol.label()
        ))
    })?;
    Ok(FriendlinessRun {
        protocol,
        background,
        repeat,
        foreground_mbps: *foreground,
        background_mbps: background_rates.to_vec(),
        jain,
        counters,
    })
}

fn check_all(
    testbed: &mut MirroredTestbed,
    clients: &mut [crate::service::client::ClientProcess],
) -> Result<()> {
    testbed.check_running()?;
    clients.iter_mut().try_for_each(|c| c.check_running())
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

fn runs_of(runs: &[FriendlinessRun], protocol: Protocol, background: u32) -> Vec<&FriendlinessRun> {
    runs.iter()
        .filter(|r| r.protocol == protocol && r.background == background)
        .collect()
}

fn median_of(
    runs: &[FriendlinessRun],
    protocol: Protocol,
    background: u32,
    value: impl Fn(&FriendlinessRun) -> f64,
) -> f64 {
    let values: Vec<f64> = runs_of(runs, protocol, background)
        .into_iter()
        .map(value)
        .collect();
    median(&values)
}

/// One row per number of background flows: medians over the repeats, and the ranges.
fn table(runs: &[FriendlinessRun], rate_mbit: f64) -> ResultTable {
    let mut table = ResultTable::new(&[
        "background",
        "fair_share_mbps",
        "trickles_mbps",
        "tcp_mbps",
        "trickles_over_tcp",
        "jain_trickles",
        "jain_tcp",
        "trickles_range",
        "tcp_range",
        "total_trickles_mbps",
        "total_tcp_mbps",
        "machinery_losses_trickles",
        "machinery_losses_tcp",
    ]);
    let mut counts: Vec<u32> = runs.iter().map(|r| r.background).collect();
    counts.dedup();
    for n in counts {
        let med = |p: Protocol, value: fn(&FriendlinessRun) -> f64| median_of(runs, p, n, value);
        let foreground = |r: &FriendlinessRun| r.foreground_mbps;
        let spread = |p: Protocol| {
            let values: Vec<f64> = runs_of(runs, p, n).into_iter().map(foreground).collect();
            range_text(&values)
        };
        let losses = |p: Protocol| -> u64 {
            runs_of(runs, p, n)
                .iter()
                .map(|r| r.counters.machinery_losses())
                .sum()
        };
        let (t, c) = (
            med(Protocol::Trickles, foreground),
            med(Protocol::Tcp, foreground),
        );
        table.push(vec![
            n.to_string(),
            format!("{:.2}", rate_mbit / f64::from(n + 1)),
            format!("{t:.2}"),
            format!("{c:.2}"),
            format!("{:.3}", t / c),
            format!("{:.3}", med(Protocol::Trickles, |r| r.jain)),
            format!("{:.3}", med(Protocol::Tcp, |r| r.jain)),
            spread(Protocol::Trickles),
            spread(Protocol::Tcp),
            format!(
                "{:.2}",
                med(Protocol::Trickles, FriendlinessRun::total_mbps)
            ),
            format!("{:.2}", med(Protocol::Tcp, FriendlinessRun::total_mbps)),
            losses(Protocol::Trickles).to_string(),
            losses(Protocol::Tcp).to_string(),
        ]);
    }
    table
}

fn plots(
    context: &Context,
    runs: &[FriendlinessRun],
    args: &FriendlinessArgs,
) -> Result<(PlotFiles, PlotFiles)> {
    let fair = Series {
        name: "fair share".to_owned(),
        points: args
            .background
            .iter()
            .map(|&n| (f64::from(n), args.rate_mbit / f64::from(n + 1)))
            .collect(),
    };
    let throughput = XyPlot {
        title: format!(
            "Foreground flow against n background TCP flows ({} Mbit/s, {} ms RTT)",
            args.rate_mbit, args.rtt_ms
        ),
        x_label: "background TCP flows".to_owned(),
        y_label: "foreground throughput (Mbit/s)".to_owned(),
        log_x: false,
        series: median_series(runs, args, |r| r.foreground_mbps)
            .into_iter()
            .chain([fair])
            .collect(),
    }
    .write(&context.result_path("friendliness"))?;
    let jain = XyPlot {
        title: "Jain's fairness index over all n + 1 flows".to_owned(),
        x_label: "background TCP flows".to_owned(),
        y_label: "Jain's index".to_owned(),
        log_x: false,
        series: median_series(runs, args, |r| r.jain),
    }
    .write(&context.result_path("friendliness-jain"))?;
    Ok((throughput, jain))
}

/// One line per protocol through the medians of `value` at each number of background flows.
fn median_series(
    runs: &[FriendlinessRun],
    args: &FriendlinessArgs,
    value: fn(&FriendlinessRun) -> f64,
) -> Vec<Series> {
    Protocol::BOTH
        .iter()
        .map(|&protocol| Series {
            name: protocol.label().to_owned(),
            points: args
                .background
                .iter()
                .map(|&n| (f64::from(n), median_of(runs, protocol, n, value)))
                .collect(),
        })
        .collect()
}
