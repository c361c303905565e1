//! [`run_transfer`]: one `trickles-client get` in a host, its delivery sampled throughout by a
//! [`DeliverySampler`], while a [`FailureSchedule`] is carried out on a [`Stage`] (kill the
//! serving replica at t = 10 s, restart it 1 s later, crash a host once 20 MiB are delivered).
//! Every scenario with a failure runs through here: the demo, the chain's timeline, `exp
//! failover`, `exp pool`.
//!
//! Times are seconds since the client was started, for the samples and the events alike.

use std::path::Path;
use std::time::{Duration, Instant};

use super::delivery::{DeliverySampler, DeliveryTrace};
use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::interrupt;
use crate::schedule::{FailureSchedule, Stage};
use crate::service::client::{ClientProcess, ClientSpec, TransferStats};
use crate::test_file::sha256_file;
use crate::topology::Host;
use trickles_testkit::TestkitError;

/// How often the schedule is ticked.
const TICK: Duration = Duration::from_millis(5);

/// A finished transfer.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The client's `--stats-json`.
    pub stats: TransferStats,
    /// Delivered bytes over time, with every step of the schedule and what the stage observed
    /// as events.
    pub trace: DeliveryTrace,
    /// When each step of the schedule fired (seconds), `None` for those that did not.
    pub fired: Vec<Option<f64>>,
    /// How the client failed, when it was allowed to ([`ClientSpec::allow_failure`]); its
    /// `stats` are then what the lab saw (bytes delivered, time), with no digest.
    pub failure: Option<String>,
}

impl Transfer {
    /// The SHA-256 of the client's `output` (empty when a failed client left none) and whether
    /// it and the client's own digest are `expected`; a byte-exact output is deleted (free the
    /// disk before the next transfer), a differing one kept for a comparison.
    pub fn check_output(&self, output: Option<&Path>, expected: &str) -> Result<(String, bool)> {
        // A failed client leaves no output (it writes under a temporary name and renames it
        // only when the body is complete): nothing to digest, not exact.
        let digest = match output {
            Some(path) if self.failure.is_some() && !path.exists() => String::new(),
            Some(path) => sha256_file(path)?,
            None => String::new(),
        };
        let exact = digest == expected && self.stats.sha256 == expected;
        if let (Some(path), true) = (output, exact) {
            let _ = std::fs::remove_file(path);
        }
        Ok((digest, exact))
    }

    /// When step `index` fired, or a usage error saying the transfer ended first (raise the
    /// size or lower the rate).
    pub fn step_time(&self, index: usize) -> Result<f64> {
        self.fired.get(index).copied().flatten().ok_or_else(|| {
            LabError::Usage(format!(
                "the transfer ended ({} bytes in {:.1} s) before step {} of its schedule: \
                 use a larger file or a lower rate",
                self.stats.bytes,
                self.stats.seconds,
                index + 1
            ))
        })
    }
}

/// Starts `client` (which must write to `-o FILE`: that file is sampled) in `host`, carries out
/// `schedule` on `stage` until the client exits, and returns its statistics and delivery trace.
/// Fails if the client fails, an action fails, or the whole transfer takes longer than `limit`.
pub fn run_transfer(
    binaries: &Binaries,
    host: &Host,
    client: ClientSpec,
    limit: Duration,
    schedule: &FailureSchedule,
    stage: &mut dyn Stage,
) -> Result<Transfer> {
    let output = client
        .output
        .clone()
        .ok_or_else(|| LabError::Usage("a sampled transfer needs -o FILE".to_owned()))?;
    let _ = std::fs::remove_file(&output);
    let (url, allow_failure) = (client.url.clone(), client.allow_failure);
    let mut process = ClientProcess::start(binaries, host, client)?;
    let start = Instant::now();
    let sampler = DeliverySampler::start(output.clone(), start, limit);
    let delivered = || trickles_client::output::written_so_far(&output);
    let Driven { events, fired } = drive(&mut process, start, limit, delivered, schedule, stage)?;
    let finished = process.finish(Duration::from_secs(5));
    let mut trace = sampler.finish();
    for (at, label) in events {
        trace.event(at, label);
    }
    let (stats, failure) = match finished {
        Ok(stats) => (stats, None),
        Err(LabError::Kit(TestkitError::ChildFailed { status, .. })) if allow_failure => {
            (seen(&url, &trace), Some(format!("failed ({status})")))
        }
        Err(error) => return Err(error),
    };
    Ok(Transfer {
        stats,
        trace,
        fired,
        failure,
    })
}

/// The statistics of a failed client, as the lab saw its output grow.
fn seen(url: &str, trace: &DeliveryTrace) -> TransferStats {
    let (seconds, bytes) = trace.samples().last().copied().unwrap_or((0.0, 0));
    TransferStats {
        url: url.to_owned(),
        protocol: url.split(':').next().unwrap_or_default().to_owned(),
        bytes,
        seconds,
        goodput_mbps: trickles_client::stats::goodput_mbps(bytes, seconds),
        retransmissions: 0,
        longest_stall_ms: 0.0,
        first_byte_ms: 0.0,
        reconnects: 0,
        unreachables: 0,
        replica_moves: 0,
        sha256: String::new(),
    }
}

/// What [`drive`] saw: the events (seconds since the start, label) and when each step of the
/// schedule fired.
#[derive(Clone, Debug, Default)]
pub struct Driven {
    /// The steps carried out and what the stage observed.
    pub events: Vec<(f64, String)>,
    /// When each step fired, `None` for those that did not.
    pub fired: Vec<Option<f64>>,
}

/// Ticks `schedule` on `stage` every few milliseconds until `process` exits (`delivered`: the
/// bytes it has delivered so far, for byte triggers). Fails when an action fails or after
/// `limit`.
pub fn drive(
    process: &mut ClientProcess,
    start: Instant,
    limit: Duration,
    delivered: impl Fn() -> u64,
    schedule: &FailureSchedule,
    stage: &mut dyn Stage,
) -> Result<Driven> {
    let seconds = || start.elapsed().as_secs_f64();
    let mut run = schedule.start();
    let mut events = Vec::new();
    while !process.has_exited()? {
        interrupt::check()?;
        run.tick(seconds, delivered(), stage, &mut events)?;
        if start.elapsed() > limit {
            return Err(LabError::timeout(
                format!("{} to finish", process.spec().url),
                limit,
            ));
        }
        std::thread::sleep(TICK);
    }
    let fired = (0..schedule.steps.len()).map(|i| run.fired_at(i)).collect();
    Ok(Driven { events, fired })
}
