//! `trickles-lab bench transfer`: whole-transfer goodput and CPU time of Trickles against
//! kernel TCP and against QUIC on loopback, in the same run, on the same file.
//!
//! One replica serves the file over Trickles (UDP) and over its HTTP/1.1 TCP baseline (hyper);
//! the same `trickles-client` fetches it both ways. A `quic-serve` process serves it over QUIC
//! and a `quic-get` process fetches it ([`crate::quic`]: quinn 0.11 with its defaults). Each run
//! does the three transfers one after the other, the order rotating from run to run; the report
//! gives, for each protocol, the median goodput and its spread over the runs, the CPU seconds
//! per GB of its server and of its client, and the ratios Trickles/TCP and Trickles/QUIC (the
//! median and the spread of the per-run ratios).
//!
//! Bodies go to `/dev/null`; every client's SHA-256 of the body is checked against the served
//! file's (a mismatch fails the run). Goodput is the client's: body bytes over the time from
//! its start to the last byte, in MB/s (10⁶ bytes per second). CPU time ([`crate::cpu`]): the
//! server's is the growth of `utime + stime` in `/proc/PID/stat` across the transfer (the
//! Trickles and TCP servers are the same process, which does nothing else meanwhile); the
//! client's is the growth of `getrusage(RUSAGE_CHILDREN)` across its life (it is the only child
//! reaped meanwhile).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
use crate::cpu::{process_cpu_seconds, reaped_children_cpu_seconds};
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::pool::{FrontEnd, Pool, PoolSpec};
use crate::quic::process::{QuicClient, QuicServer};
use crate::service::client::TransferStats;
use crate::service::client::{ClientProcess, ClientSpec};
use crate::topology::{Host, Topology};

/// Settings (CLI flags).
#[derive(Clone, Debug)]
pub struct TransferBenchOptions {
    /// Size of the file.
    pub size: u64,
    /// Runs of each protocol.
    pub runs: usize,
    /// Loopback address.
    pub ip: IpAddr,
    /// Where the CSV goes.
    pub out_dir: PathBuf,
    /// Each transfer must end within this.
    pub transfer_limit: Duration,
    /// The Trickles server's `mss` (stream bytes per data packet); `None`: its default.
    pub mss: Option<usize>,
    /// The executable with the `quic-serve` and `quic-get` subcommands (`trickles-lab`).
    pub quic_program: PathBuf,
}

/// A protocol the benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Trickles over UDP, `trickles-server` and `trickles-client`.
    Trickles,
    /// HTTP/1.1 over kernel TCP: the server's baseline listener and `trickles-client`.
    Tcp,
    /// QUIC: `trickles-lab quic-serve` and `quic-get` (quinn).
    Quic,
}

impl Protocol {
    /// All three, in the report's order.
    pub const ALL: [Protocol; 3] = [Protocol::Trickles, Protocol::Tcp, Protocol::Quic];

    /// The name in the CSV and the file names.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Trickles => "trickles",
            Protocol::Tcp => "tcp",
            Protocol::Quic => "quic",
        }
    }

    /// The row label of the report.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Trickles => "trickles (UDP)",
            Protocol::Tcp => "kernel TCP (HTTP/1.1)",
            Protocol::Quic => "QUIC (quinn)",
        }
    }

    /// The order of run `run` (from 1): the three rotate, so each goes first, second and
    /// third equally often over every three runs.
    pub fn order(run: usize) -> [Protocol; 3] {
        let mut order = Protocol::ALL;
        order.rotate_left((run + 2) % 3);
        order
    }
}

/// One measured transfer.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Run number, from 1.
    pub run: usize,
    /// Which protocol.
    pub protocol: Protocol,
    /// The client's statistics.
    pub stats: TransferStats,
    /// CPU seconds the server used during the transfer.
    pub server_cpu_seconds: f64,
    /// CPU seconds the client used (its whole life).
    pub client_cpu_seconds: f64,
}

impl Measurement {
    /// Goodput in MB/s.
    pub fn megabytes_per_second(&self) -> f64 {
        self.stats.goodput_mbps / 8.0
    }

    /// `(server, client)` CPU seconds per GB (10⁹ body bytes).
    pub fn cpu_seconds_per_gigabyte(&self) -> (f64, f64) {
        let gigabytes = self.stats.bytes as f64 / 1e9;
        if gigabytes > 0.0 {
            (
                self.server_cpu_seconds / gigabytes,
                self.client_cpu_seconds / gigabytes,
            )
        } else {
            (f64::NAN, f64::NAN)
        }
    }
}

/// A median with the smallest and largest value it was taken from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// Of `values` (0 for none).
    pub fn of(mut values: Vec<f64>) -> Spread {
        let median = median(&mut values);
        Spread {
            median,
            min: values.first().copied().unwrap_or(0.0),
            max: values.last().copied().unwrap_or(0.0),
        }
    }
}

/// All measurements: the benchmark's results table.
#[derive(Clone, Debug)]
pub struct TransferBenchOutcome {
    /// Every transfer, in the order they ran.
    pub measurements: Vec<Measurement>,
    /// The Trickles server's `mss` (`None`: its default).
    pub mss: Option<usize>,
    /// The QUIC server's UDP offloads, as it logged them.
    pub quic_offload: String,
    /// The CSV written.
    pub csv: PathBuf,
}

impl TransferBenchOutcome {
    /// The transfers of `protocol`, in run order.
    pub fn of(&self, protocol: Protocol) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .iter()
            .filter(move |m| m.protocol == protocol)
    }

    /// Goodput of `protocol` over the runs, MB/s.
    pub fn goodput(&self, protocol: Protocol) -> Spread {
        Spread::of(
            self.of(protocol)
                .map(Measurement::megabytes_per_second)
                .collect(),
        )
    }

    /// Goodput ratio `a`/`b` over the runs (each run's transfers compared with each other).
    pub fn ratio(&self, a: Protocol, b: Protocol) -> Spread {
        let ratios = self
            .of(a)
            .filter_map(|x| {
                let y = self.of(b).find(|y| y.run == x.run)?;
                let denominator = y.megabytes_per_second();
                (denominator > 0.0).then(|| x.megabytes_per_second() / denominator)
            })
            .collect();
        Spread::of(ratios)
    }

    /// Median `(server, client)` CPU seconds per GB of `protocol`.
    pub fn cpu_seconds_per_gigabyte(&self, protocol: Protocol) -> (Spread, Spread) {
        let (server, client) = self
            .of(protocol)
            .map(Measurement::cpu_seconds_per_gigabyte)
            .unzip();
        (Spread::of(server), Spread::of(client))
    }
}

/// Runs the benchmark.
pub fn run_transfer_bench(
    binaries: &Binaries,
    opts: &TransferBenchOptions,
) -> Result<TransferBenchOutcome> {
    if opts.runs == 0 {
        return Err(LabError::Usage("--runs must be at least 1".to_owned()));
    }
    let fixture = ServiceFixture::new(binaries)?;
    let topology = Topology::loopback(opts.ip)?;
    eprintln!("bench transfer: writing a {} file", format_bytes(opts.size));
    let sha256 = fixture.add_file("file", opts.size, 1)?;
    let pool = Pool::start(
        binaries,
        &topology,
        &fixture,
        PoolSpec {
            http_baseline: true,
            mss: opts.mss,
            ..PoolSpec::new(1, FrontEnd::Direct)
        },
    )?;
    let server_pid = pool
        .replica(0)
        .and_then(|replica| replica.pid())
        .ok_or_else(|| LabError::Usage("the pool's replica is not running".to_owned()))?;
    let mut quic = QuicServer::start(
        &opts.quic_program,
        &topology.host("quic-server"),
        opts.ip,
        &fixture.root().join("file"),
        fixture.path(),
    )?;
    let bench = Bench {
        binaries,
        trickles_url: pool.trickles_url("file"),
        tcp_url: pool
            .http_url("file")
            .ok_or_else(|| LabError::Usage("the pool serves no HTTP baseline".to_owned()))?,
        client: topology.host("client"),
        dir: fixture.path(),
        opts,
    };
    let mut measurements = Vec::new();
    for run in 1..=opts.runs {
        for protocol in Protocol::order(run) {
            let pid = match protocol {
                Protocol::Quic => quic.pid(),
                Protocol::Trickles | Protocol::Tcp => server_pid,
            };
            let server_before = process_cpu_seconds(pid);
            let client_before = reaped_children_cpu_seconds();
            let stats = bench.fetch(protocol, run, &quic)?;
            let client_cpu_seconds = reaped_children_cpu_seconds() - client_before;
            let server_cpu_seconds = match (server_before, process_cpu_seconds(pid)) {
                (Some(before), Some(after)) => after - before,
                _ => f64::NAN,
            };
            if stats.sha256 != sha256 || stats.bytes != opts.size {
                return Err(LabError::Mismatch {
                    what: format!("{} (run {run}, {} bytes)", stats.url, stats.bytes),
                    expected: sha256,
                    got: stats.sha256,
                });
            }
            let measurement = Measurement {
                run,
                protocol,
                stats,
                server_cpu_seconds,
                client_cpu_seconds,
            };
            eprintln!(
                "  run {run}: {:<8} {:>8.1} MB/s  ({:.3} s, CPU server {:.2} s, client {:.2} s, {} retransmissions)",
                protocol.name(),
                measurement.megabytes_per_second(),
                measurement.stats.seconds,
                server_cpu_seconds,
                client_cpu_seconds,
                measurement.stats.retransmissions
            );
            measurements.push(measurement);
        }
        quic.check_running()?;
    }
    let quic_offload = quic.offload().to_owned();
    quic.stop()?;
    pool.stop()?;
    let out_dir = crate::fixture::output_dir(&opts.out_dir)?;
    let csv = out_dir.join("transfer.csv");
    write_csv(&csv, &measurements)?;
    Ok(TransferBenchOutcome {
        measurements,
        mss: opts.mss,
        quic_offload,
        csv,
    })
}

/// What every transfer of a run needs.
struct Bench<'a> {
    binaries: &'a Binaries,
    trickles_url: String,
    tcp_url: String,
    client: Host,
    dir: &'a Path,
    opts: &'a TransferBenchOptions,
}

impl Bench<'_> {
    /// One transfer of `protocol` in run `run`, the body discarded.
    fn fetch(&self, protocol: Protocol, run: usize, quic: &QuicServer) -> Result<TransferStats> {
        let stem = format!("{}-{run}", protocol.name());
        let limit = self.opts.transfer_limit;
        let url = match protocol {
            Protocol::Trickles => &self.trickles_url,
            Protocol::Tcp => &self.tcp_url,
            Protocol::Quic => {
                let program = &self.opts.quic_program;
                let name = quic.file_name();
                return QuicClient::start(
                    program,
                    &self.client,
                    quic,
                    name,
                    None,
                    self.dir,
                    &stem,
                )?
                .finish(limit);
            }
        };
        let spec = ClientSpec::single(url.clone(), PathBuf::from("/dev/null"), self.dir, &stem);
        ClientProcess::start(self.binaries, &self.client, spec)?.finish(limit)
    }
}

/// The human report: a row per protocol, then the two ratios.
pub fn report(outcome: &TransferBenchOutcome, opts: &TransferBenchOptions) -> String {
    let mut text = String::new();
    let mss = match outcome.mss {
        Some(mss) => format!("Trickles mss {mss}"),
        None => "Trickles mss: the server's default".to_owned(),
    };
    let _ = writeln!(
        text,
        "whole-transfer goodput, {} over {} loopback, {} run(s), {mss}:",
        format_bytes(opts.size),
        opts.ip,
        opts.runs
    );
    let _ = writeln!(
        text,
        "  {:<22} {:>12} {:>19}   {:>15} {:>15}",
        "protocol", "median MB/s", "(min - max)", "server CPU s/GB", "client CPU s/GB"
    );
    for protocol in Protocol::ALL {
        let goodput = outcome.goodput(protocol);
        let (server, client) = outcome.cpu_seconds_per_gigabyte(protocol);
        let _ = writeln!(
            text,
            "  {:<22} {:>12.1} {:>19}   {:>15.2} {:>15.2}",
            protocol.label(),
            goodput.median,
            format!("({:.1} - {:.1})", goodput.min, goodput.max),
            server.median,
            client.median
        );
    }
    for other in [Protocol::Tcp, Protocol::Quic] {
        let ratio = outcome.ratio(Protocol::Trickles, other);
        let _ = writeln!(
            text,
            "  ratio Trickles/{:<5} {:.3}  (runs: {:.3} - {:.3})",
            match other {
                Protocol::Tcp => "TCP",
                _ => "QUIC",
            },
            ratio.median,
            ratio.min,
            ratio.max
        );
    }
    let _ = writeln!(text, "  QUIC socket (quinn-udp): {}", outcome.quic_offload);
    let _ = writeln!(
        text,
        "  CPU: server /proc/PID/stat utime+stime over the transfer, client getrusage(RUSAGE_CHILDREN)"
    );
    let _ = writeln!(text, "  data: {}", outcome.csv.display());
    text
}

fn write_csv(path: &Path, measurements: &[Measurement]) -> Result<()> {
    let mut text = String::from(
        "protocol,run,bytes,seconds,goodput_megabytes_per_second,retransmissions,longest_stall_ms,\
         server_cpu_seconds,client_cpu_seconds\n",
    );
    for m in measurements {
        let _ = writeln!(
            text,
            "{},{},{},{:.6},{:.3},{},{:.3},{:.3},{:.3}",
            m.protocol.name(),
            m.run,
            m.stats.bytes,
            m.stats.seconds,
            m.megabytes_per_second(),
            m.stats.retransmissions,
            m.stats.longest_stall_ms,
            m.server_cpu_seconds,
            m.client_cpu_seconds
        );
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

/// Median of `values` (sorted in place); 0 for an empty slice.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::{median, Protocol, Spread};

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn every_protocol_goes_first_once_in_three_runs() {
        let firsts: Vec<Protocol> = (1..=3).map(|run| Protocol::order(run)[0]).collect();
        assert_eq!(firsts, Protocol::ALL.to_vec());
        assert_eq!(Protocol::order(1), Protocol::order(4));
    }

    #[test]
    fn spread_gives_median_and_extremes() {
        let spread = Spread::of(vec![5.0, 1.0, 3.0]);
        assert_eq!((spread.median, spread.min, spread.max), (3.0, 1.0, 5.0));
    }
}
