//! `trickles-lab bench transfer`: whole-transfer goodput of Trickles against kernel TCP on
//! loopback. One replica serves one file over Trickles (UDP) and over its HTTP/TCP baseline;
//! the same client binary fetches it both ways, alternating which goes first in each run; the
//! report gives each run, the median goodput of each protocol and the ratio Trickles/TCP.
//!
//! Bodies go to `/dev/null`; the client's SHA-256 of every transfer is checked against the
//! served file's. Goodput is the client's: body bytes over the time from its start to the
//! last byte, in MB/s (10⁶ bytes per second).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::pool::{FrontEnd, Pool, PoolSpec};
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
}

/// One measured transfer.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Run number, from 1.
    pub run: usize,
    /// The client's statistics.
    pub stats: TransferStats,
}

/// All measurements.
#[derive(Clone, Debug)]
pub struct TransferBenchOutcome {
    /// Trickles transfers.
    pub trickles: Vec<Measurement>,
    /// HTTP/TCP transfers.
    pub tcp: Vec<Measurement>,
    /// The CSV written.
    pub csv: PathBuf,
}

impl TransferBenchOutcome {
    /// Median goodput of the Trickles runs, MB/s.
    pub fn trickles_median(&self) -> f64 {
        median_megabytes(&self.trickles)
    }

    /// Median goodput of the TCP runs, MB/s.
    pub fn tcp_median(&self) -> f64 {
        median_megabytes(&self.tcp)
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
            ..PoolSpec::new(1, FrontEnd::Direct)
        },
    )?;
    let trickles_url = pool.trickles_url("file");
    let tcp_url = pool
        .http_url("file")
        .ok_or_else(|| LabError::Usage("the pool serves no HTTP baseline".to_owned()))?;
    let mut trickles = Vec::new();
    let mut tcp = Vec::new();
    for run in 1..=opts.runs {
        let order = if run % 2 == 1 {
            [(&trickles_url, true), (&tcp_url, false)]
        } else {
            [(&tcp_url, false), (&trickles_url, true)]
        };
        for (url, is_trickles) in order {
            let stem = format!("{}-{run}", if is_trickles { "trickles" } else { "tcp" });
            let stats = fetch_once(
                binaries,
                &topology.host("client"),
                fixture.path(),
                url,
                &stem,
                opts.transfer_limit,
            )?;
            if stats.sha256 != sha256 || stats.bytes != opts.size {
                return Err(LabError::Mismatch {
                    what: format!("{url} (run {run}, {} bytes)", stats.bytes),
                    expected: sha256,
                    got: stats.sha256,
                });
            }
            eprintln!(
                "  run {run}: {:<8} {:>8.1} MB/s  ({:.3} s, {} retransmissions)",
                stats.protocol,
                stats.goodput_mbps / 8.0,
                stats.seconds,
                stats.retransmissions
            );
            let measurement = Measurement { run, stats };
            if is_trickles {
                trickles.push(measurement);
            } else {
                tcp.push(measurement);
            }
        }
    }
    pool.stop()?;
    let out_dir = crate::fixture::output_dir(&opts.out_dir)?;
    let csv = out_dir.join("transfer.csv");
    write_csv(&csv, opts.size, &trickles, &tcp)?;
    Ok(TransferBenchOutcome { trickles, tcp, csv })
}

fn fetch_once(
    binaries: &Binaries,
    host: &Host,
    dir: &Path,
    url: &str,
    stem: &str,
    limit: Duration,
) -> Result<TransferStats> {
    let spec = ClientSpec::single(url.to_owned(), PathBuf::from("/dev/null"), dir, stem);
    ClientProcess::start(binaries, host, spec)?.finish(limit)
}

/// The human report.
pub fn report(outcome: &TransferBenchOutcome, opts: &TransferBenchOptions) -> String {
    let (trickles, tcp) = (outcome.trickles_median(), outcome.tcp_median());
    let mut text = String::new();
    let _ = writeln!(
        text,
        "whole-transfer goodput, {} over {} loopback, {} run(s), median:",
        format_bytes(opts.size),
        opts.ip,
        opts.runs
    );
    let _ = writeln!(text, "  trickles (UDP)  {trickles:>8.1} MB/s");
    let _ = writeln!(text, "  kernel TCP      {tcp:>8.1} MB/s");
    let ratio = if tcp > 0.0 { trickles / tcp } else { f64::NAN };
    let _ = writeln!(text, "  ratio Trickles/TCP  {ratio:.3}");
    let _ = writeln!(text, "  data: {}", outcome.csv.display());
    text
}

fn write_csv(path: &Path, size: u64, trickles: &[Measurement], tcp: &[Measurement]) -> Result<()> {
    let mut text = String::from(
        "protocol,run,bytes,seconds,goodput_megabytes_per_second,retransmissions,longest_stall_ms\n",
    );
    for m in trickles.iter().chain(tcp) {
        let _ = writeln!(
            text,
            "{},{},{},{:.6},{:.3},{},{:.3}",
            m.stats.protocol,
            m.run,
            size,
            m.stats.seconds,
            m.stats.goodput_mbps / 8.0,
            m.stats.retransmissions,
            m.stats.longest_stall_ms
        );
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

/// Median of the goodputs in MB/s (mean of the middle two for an even count; 0 for none).
fn median_megabytes(measurements: &[Measurement]) -> f64 {
    let mut values: Vec<f64> = measurements
        .iter()
        .map(|m| m.stats.goodput_mbps / 8.0)
        .collect();
    median(&mut values)
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
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
