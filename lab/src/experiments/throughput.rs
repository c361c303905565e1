//! `trickles-lab exp throughput`: aggregate throughput against the number of clients over a
//! 100 Mbit bottleneck (the paper's second figure), Trickles against kernel TCP with the same
//! client and server programs on the same testbed in the same run.
//!
//! At each client count N, one `trickles-client get --parallel N` in the clients host fetches a
//! file of `--bytes-per-point / N` bytes N times at once; the aggregate is the bytes delivered
//! over the time from the client's start to its last byte (connection set-up included, for
//! both protocols). Every body's SHA-256 is checked against the served file's.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::context::{start_server, url, BaseArgs, Context, Protocol};
use super::dumbbell::{Dumbbell, DumbbellSpec, CLIENTS, SERVER};
use super::report::Report;
use super::results_table::ResultTable;
use super::xy_plot::{Series, XyPlot};
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::error::{LabError, Result};
use crate::service::client::TransferStats;
use crate::service::client::{ClientProcess, ClientSpec};

/// Flags of `trickles-lab exp throughput`.
#[derive(Clone, Debug, Args)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// Concurrent clients at each point.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub clients: Vec<u32>,
    /// Bottleneck toward the clients, Mbit/s.
    #[arg(long, default_value_t = 100)]
    pub rate_mbit: u64,
    /// Bottleneck queue, bytes.
    #[arg(long, default_value = "256KiB", value_parser = parse_byte_size)]
    pub queue: u64,
    /// Bytes moved at each point, split evenly over its clients.
    #[arg(long, default_value = "64MiB", value_parser = parse_byte_size)]
    pub bytes_per_point: u64,
    /// Kernel TCP congestion control in the testbed.
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Binaries' build profile (release for figures; the tests use debug).
    #[arg(skip = Profile::Release)]
    pub profile: Profile,
}

impl ThroughputArgs {
    /// The reduced size CI runs: 1, 4 and 16 clients, 20 Mbit, 8 MiB per point, debug binaries.
    pub fn reduced(out: PathBuf) -> Self {
        ThroughputArgs {
            base: BaseArgs::for_tests(out),
            clients: vec![1, 4, 16],
            rate_mbit: 20,
            queue: 128 * 1024,
            bytes_per_point: 8 << 20,
            tcp_cc: "reno".to_owned(),
            profile: Profile::Debug,
        }
    }
}

/// One measured point.
#[derive(Clone, Debug)]
pub struct ThroughputPoint {
    /// Trickles or TCP.
    pub protocol: Protocol,
    /// Concurrent clients.
    pub clients: u32,
    /// Bytes delivered (all byte-exact).
    pub bytes: u64,
    /// From the client's start to its last byte, seconds.
    pub seconds: f64,
    /// Aggregate goodput, Mbit/s.
    pub mbit_per_second: f64,
    /// Trickles retransmissions (0 for TCP: the kernel's are not visible to the client).
    pub retransmissions: u64,
}

/// What the run measured and wrote.
#[derive(Debug)]
pub struct ThroughputOutcome {
    /// Every point, Trickles first, then TCP, each in client order.
    pub points: Vec<ThroughputPoint>,
    /// Trickles over TCP aggregate throughput at each client count.
    pub ratios: Vec<(u32, f64)>,
    /// The table and files.
    pub report: Report,
}

/// Runs the experiment.
pub fn run(args: &ThroughputArgs) -> Result<ThroughputOutcome> {
    if args.clients.is_empty() || args.clients.contains(&0) || args.rate_mbit == 0 {
        return Err(LabError::Usage(
            "--clients needs counts above 0 and --rate-mbit a rate above 0".to_owned(),
        ));
    }
    let context = Context::new("throughput", &args.base, args.profile)?;
    let mut files = Vec::new();
    for &clients in &args.clients {
        let len = (args.bytes_per_point / u64::from(clients)).max(1);
        let name = format!("throughput-{clients}.bin");
        let sha = context.fixture.add_file(&name, len, u64::from(clients))?;
        files.push((clients, name, len, sha));
    }
    let testbed = Dumbbell::build(
        "trickles-lab exp throughput",
        &DumbbellSpec {
            rate_bits: args.rate_mbit * 1_000_000,
            queue_bytes: args.queue,
            tcp_cc: args.tcp_cc.clone(),
        },
        context.family,
    )?;
    let server = start_server(&context, &testbed.host(SERVER), "throughput-server")?;
    // Generous: the bottleneck's time for the bytes, ten times over, plus set-up.
    let limit = Duration::from_secs_f64(
        args.bytes_per_point as f64 * 8.0 / (args.rate_mbit as f64 * 1e6) * 10.0 + 60.0,
    );
    let mut points = Vec::new();
    for protocol in Protocol::BOTH {
        for (clients, name, len, sha) in &files {
            let stem = format!("throughput-{}-{clients}", protocol.label().to_lowercase());
            let spec = ClientSpec {
                url: url(protocol, testbed.host(SERVER).address(), name),
                output: None,
                stats_json: context.temp_path(&format!("{stem}.stats.json")),
                idle_timeout: Duration::from_secs(30),
                parallel: Some(*clients),
                log: context.temp_path(&format!("{stem}.log")),
                ..ClientSpec::default()
            };
            let client = ClientProcess::start(&context.binaries, &testbed.host(CLIENTS), spec)?;
            let report = client.finish_parallel(limit)?;
            let (transfers, seconds) = (report.transfers, report.totals.seconds);
            check_bodies(&stem, &transfers, *len, sha)?;
            let bytes: u64 = transfers.iter().map(|t| t.bytes).sum();
            let point = ThroughputPoint {
                protocol,
                clients: *clients,
                bytes,
                seconds,
                mbit_per_second: bytes as f64 * 8.0 / seconds.max(1e-9) / 1e6,
                retransmissions: transfers.iter().map(|t| t.retransmissions).sum(),
            };
            eprintln!(
                "throughput: {} {} clients: {:.1} Mbit/s",
                protocol.label(),
                clients,
                point.mbit_per_second
            );
            points.push(point);
        }
    }
    drop(server);
    drop(testbed);

    let ratios = ratios(&points);
    let plot = figure(&points, args.rate_mbit).write(&context.result_path("throughput"))?;
    let within = ratios
        .iter()
        .filter(|(_, r)| (r - 1.0).abs() <= 0.10)
        .count();
    let note = format!(
        "Trickles within 10 % of TCP at {within} of {} client counts\n",
        ratios.len()
    );
    let table = table(&points, &ratios);
    let report = context.publish(table, "throughput.csv", &note, vec![plot.png, plot.svg])?;
    Ok(ThroughputOutcome {
        points,
        ratios,
        report,
    })
}

fn check_bodies(what: &str, transfers: &[TransferStats], len: u64, sha: &str) -> Result<()> {
    for (i, transfer) in transfers.iter().enumerate() {
        if transfer.bytes != len || transfer.sha256 != sha {
            return Err(LabError::Mismatch {
                what: format!("{what} transfer {i} ({} of {len} bytes)", transfer.bytes),
                expected: sha.to_owned(),
                got: transfer.sha256.clone(),
            });
        }
    }
    Ok(())
}

fn ratios(points: &[ThroughputPoint]) -> Vec<(u32, f64)> {
    points
        .iter()
        .filter(|p| p.protocol == Protocol::Trickles)
        .filter_map(|t| {
            let tcp = points
                .iter()
                .find(|p| p.protocol == Protocol::Tcp && p.clients == t.clients)?;
            Some((t.clients, t.mbit_per_second / tcp.mbit_per_second.max(1e-9)))
        })
        .collect()
}

fn table(points: &[ThroughputPoint], ratios: &[(u32, f64)]) -> ResultTable {
    let mut table = ResultTable::new(&[
        "protocol",
        "clients",
        "mbit_per_s",
        "seconds",
        "bytes",
        "retransmissions",
        "trickles_over_tcp",
    ]);
    for p in points {
        let ratio = ratios
            .iter()
            .find(|(clients, _)| *clients == p.clients)
            .map_or(String::new(), |(_, r)| format!("{r:.3}"));
        table.push(vec![
            p.protocol.label().to_owned(),
            p.clients.to_string(),
            format!("{:.2}", p.mbit_per_second),
            format!("{:.3}", p.seconds),
            p.bytes.to_string(),
            p.retransmissions.to_string(),
            ratio,
        ]);
    }
    table
}

fn figure(points: &[ThroughputPoint], rate_mbit: u64) -> XyPlot {
    XyPlot {
        title: format!("Aggregate throughput over a {rate_mbit} Mbit/s bottleneck"),
        x_label: "concurrent clients".to_owned(),
        y_label: "aggregate goodput (Mbit/s)".to_owned(),
        log_x: true,
        series: Series::per_protocol(
            points,
            |p| p.protocol,
            |p| (f64::from(p.clients), p.mbit_per_second),
        ),
    }
}
