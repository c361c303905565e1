//! [`run_timed_transfer`]: one `trickles-client get` in a testbed host, its delivery sampled
//! throughout by a [`DeliverySampler`], while the experiment acts on a clock (kill a server at
//! t = 10 s, start another) through a callback that records what it did on the [`Timeline`].
//!
//! Times are seconds since the client was started, for the samples and the events alike.

use std::time::{Duration, Instant};

use super::delivery_sampler::DeliverySampler;
use crate::binaries::Binaries;
use crate::client_process::{ClientProcess, ClientSpec};
use crate::client_stats::TransferStats;
use crate::delivery_trace::{DeliveryTrace, TraceEvent};
use crate::error::{LabError, Result};
use crate::interrupt;
use crate::testbed::NamespaceRef;

/// How often the callback runs.
const TICK: Duration = Duration::from_millis(5);

/// The experiment's clock and the events it records.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    events: Vec<TraceEvent>,
}

impl Timeline {
    /// Seconds since the client was started.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Records `label` as happening now; returns the time.
    pub fn record(&mut self, label: impl Into<String>) -> f64 {
        let seconds = self.seconds();
        self.events.push(TraceEvent {
            seconds,
            label: label.into(),
        });
        seconds
    }
}

/// A finished transfer.
#[derive(Clone, Debug)]
pub struct TimedTransfer {
    /// The client's `--stats-json`.
    pub stats: TransferStats,
    /// Delivered bytes over time, with the recorded events.
    pub trace: DeliveryTrace,
}

/// Starts `client` (which must write to `-o FILE`: that file is sampled) with the extra `get`
/// `flags` inside `netns`, calls `act` every few milliseconds until the client exits, and
/// returns its statistics and delivery trace. Fails if the client fails, `act` fails, or the
/// whole transfer takes longer than `limit`.
pub fn run_timed_transfer(
    binaries: &Binaries,
    client: ClientSpec,
    flags: &[&str],
    netns: &NamespaceRef,
    limit: Duration,
    mut act: impl FnMut(&mut Timeline) -> Result<()>,
) -> Result<TimedTransfer> {
    let output = client
        .output
        .clone()
        .ok_or_else(|| LabError::Usage("a timed transfer samples -o FILE".to_owned()))?;
    let _ = std::fs::remove_file(&output);
    let mut process = ClientProcess::start_with_flags(binaries, client, flags, Some(netns))?;
    let mut timeline = Timeline {
        start: Instant::now(),
        events: Vec::new(),
    };
    let sampler = DeliverySampler::start(output, timeline.start, limit);
    while !process.has_exited()? {
        interrupt::check()?;
        act(&mut timeline)?;
        if timeline.start.elapsed() > limit {
            return Err(LabError::Timeout {
                what: format!("{} to finish", process.spec().url),
                after: limit,
            });
        }
        std::thread::sleep(TICK);
    }
    let stats = process.finish(Duration::from_secs(5))?;
    let mut trace = sampler.finish();
    for event in timeline.events {
        trace.event(event.seconds, event.label);
    }
    Ok(TimedTransfer { stats, trace })
}

/// The flags of a kill-during-a-transfer experiment (failover, pool): the rate, the kill time
/// and the limit positive, the restart delay (`restart_flag`, seconds) 0 or more, and the
/// transfer long enough at the bottleneck's rate to be running at the kill.
pub fn check_kill_schedule(
    rate_mbit: f64,
    size: u64,
    kill_at: f64,
    transfer_limit: f64,
    restart_flag: &str,
    restart_seconds: f64,
) -> Result<()> {
    let positive = |value: f64| value.is_finite() && value > 0.0;
    if !positive(rate_mbit) || !positive(kill_at) || !positive(transfer_limit) {
        return Err(LabError::Usage(
            "--rate-mbit, --kill-at and --transfer-limit must be positive".to_owned(),
        ));
    }
    if !(restart_seconds.is_finite() && restart_seconds >= 0.0) {
        return Err(LabError::Usage(format!(
            "{restart_flag} must be 0 or more seconds"
        )));
    }
    let full_rate_seconds = size as f64 * 8.0 / (rate_mbit * 1e6);
    if full_rate_seconds <= kill_at {
        return Err(LabError::Usage(format!(
            "at {rate_mbit} Mbit/s the {size} bytes take {full_rate_seconds:.1} s, not past the \
             kill at {kill_at} s: raise --size or lower --rate-mbit"
        )));
    }
    Ok(())
}
