//! [`DeliveryTrace`]: how many body bytes a client had delivered at each moment, observed from
//! outside by sampling the size of its output file (the client writes the body in order), plus
//! the scenario's [`TraceEvent`]s (replica killed, replica restarted). From it: throughput over
//! time, for the CSV and the plot.
//!
//! [`DeliverySampler`] takes the samples on a thread of its own, every few milliseconds, while
//! the scenario's thread is busy elsewhere (starting a server blocks until it is healthy; the
//! samples must not pause meanwhile, or a pause in sampling would look like a pause in
//! delivery). It is bounded in time and stops when dropped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// Something the scenario did, at a time since the client started.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Seconds since the client started.
    pub seconds: f64,
    /// What happened, e.g. "replica 0 killed (SIGKILL)".
    pub label: String,
}

/// Samples of delivered bytes over time, in time order.
#[derive(Clone, Debug, Default)]
pub struct DeliveryTrace {
    samples: Vec<(f64, u64)>,
    events: Vec<TraceEvent>,
}

/// Throughput in one time bin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThroughputPoint {
    /// Middle of the bin, seconds since the client started.
    pub seconds: f64,
    /// Megabytes (10⁶ bytes) per second in the bin.
    pub megabytes_per_second: f64,
}

impl DeliveryTrace {
    /// Records that `bytes` had been delivered `seconds` after the start.
    pub fn sample(&mut self, seconds: f64, bytes: u64) {
        self.samples.push((seconds, bytes));
    }

    /// Records a scenario event (kept in time order, also when recorded late).
    pub fn event(&mut self, seconds: f64, label: impl Into<String>) {
        let at = self.events.partition_point(|e| e.seconds <= seconds);
        self.events.insert(
            at,
            TraceEvent {
                seconds,
                label: label.into(),
            },
        );
    }

    /// The samples, `(seconds, bytes)`.
    pub fn samples(&self) -> &[(f64, u64)] {
        &self.samples
    }

    /// The events, in time order.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Bytes delivered by `seconds`: 0 before the first sample, the last sample's after it,
    /// and in between linearly interpolated between the two samples around `seconds` (when
    /// the lab could not sample for a while, e.g. while a replacement starts, the bytes that
    /// arrived meanwhile are spread over that time instead of piling up in one bin).
    pub fn bytes_at(&self, seconds: f64) -> u64 {
        let after = self.samples.partition_point(|&(t, _)| t <= seconds);
        let Some(before) = after.checked_sub(1).map(|i| self.samples[i]) else {
            return 0;
        };
        match self.samples.get(after) {
            Some(&(t1, b1)) if t1 > before.0 && b1 > before.1 => {
                let share = (seconds - before.0) / (t1 - before.0);
                before.1 + ((b1 - before.1) as f64 * share) as u64
            }
            _ => before.1,
        }
    }

    /// Throughput in consecutive bins of `bin` seconds, from 0 to the last sample.
    pub fn throughput(&self, bin: f64) -> Vec<ThroughputPoint> {
        let Some(&(end, _)) = self.samples.last() else {
            return Vec::new();
        };
        if bin.is_nan() || bin <= 0.0 {
            return Vec::new();
        }
        let bins = (end / bin).ceil() as usize;
        (0..bins)
            .map(|k| {
                let (from, to) = (k as f64 * bin, (k + 1) as f64 * bin);
                let delta = self.bytes_at(to).saturating_sub(self.bytes_at(from));
                ThroughputPoint {
                    seconds: (from + to) / 2.0,
                    megabytes_per_second: delta as f64 / bin / 1e6,
                }
            })
            .collect()
    }

    /// Writes `seconds,delivered_bytes` rows, then the events as `# event` comment lines.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut text = String::from("seconds,delivered_bytes\n");
        for (seconds, bytes) in &self.samples {
            let _ = writeln!(text, "{seconds:.4},{bytes}");
        }
        for event in &self.events {
            let _ = writeln!(text, "# event {:.4} {}", event.seconds, event.label);
        }
        std::fs::write(path, text).map_err(|e| LabError::io(path, e))
    }
}

/// Writes `seconds,megabytes_per_second` rows.
pub fn write_throughput_csv(points: &[ThroughputPoint], path: &Path) -> Result<()> {
    let mut text = String::from("seconds,megabytes_per_second\n");
    for point in points {
        let _ = writeln!(
            text,
            "{:.4},{:.4}",
            point.seconds, point.megabytes_per_second
        );
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

/// How often the output file is looked at.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// A running sampler; [`finish`](Self::finish) stops it and returns the trace.
#[derive(Debug)]
pub struct DeliverySampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<DeliveryTrace>>,
}

impl DeliverySampler {
    /// Samples the size of `output` every [`SAMPLE_EVERY`], as seconds since `start`, for at
    /// most `limit`.
    pub fn start(output: PathBuf, start: Instant, limit: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut trace = DeliveryTrace::default();
            loop {
                let delivered = trickles_client::output::written_so_far(&output);
                let elapsed = start.elapsed();
                trace.sample(elapsed.as_secs_f64(), delivered);
                if stopped.load(Ordering::SeqCst) || elapsed >= limit {
                    return trace;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        DeliverySampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Takes a last sample, stops and returns the trace.
    pub fn finish(mut self) -> DeliveryTrace {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .unwrap_or_default()
    }
}

impl Drop for DeliverySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn samples_follow_the_growing_file_until_finished() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let sampler = DeliverySampler::start(path.clone(), Instant::now(), Duration::from_secs(10));
        std::thread::sleep(SAMPLE_EVERY * 3);
        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(&[0u8; 1000]).expect("write");
        std::thread::sleep(SAMPLE_EVERY * 3);
        let trace = sampler.finish();
        let samples = trace.samples();
        assert_eq!(samples.first().map(|s| s.1), Some(0), "{samples:?}");
        assert_eq!(samples.last().map(|s| s.1), Some(1000), "{samples:?}");
        assert!(
            samples.windows(2).all(|w| w[0].0 <= w[1].0),
            "in time order"
        );
    }

    fn trace(samples: &[(f64, u64)]) -> DeliveryTrace {
        let mut trace = DeliveryTrace::default();
        for &(t, b) in samples {
            trace.sample(t, b);
        }
        trace
    }

    #[test]
    fn throughput_bins_sum_to_the_delivered_bytes() {
        let t = trace(&[
            (0.0, 0),
            (0.5, 1_000_000),
            (1.0, 1_000_000),
            (2.0, 3_000_000),
        ]);
        let points = t.throughput(0.5);
        assert_eq!(points.len(), 4);
        let total: f64 = points.iter().map(|p| p.megabytes_per_second * 0.5).sum();
        assert!((total - 3.0).abs() < 1e-9, "{points:?}");
        assert_eq!(
            points[1].megabytes_per_second, 0.0,
            "the stall shows as a zero bin"
        );
    }

    #[test]
    fn events_recorded_late_take_their_place_in_time() {
        let mut t = DeliveryTrace::default();
        t.event(1.0, "killed");
        t.event(3.0, "restarted");
        t.event(2.0, "resumed");
        let labels: Vec<&str> = t.events().iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["killed", "resumed", "restarted"]);
    }

    #[test]
    fn bytes_between_samples_are_interpolated() {
        let t = trace(&[(0.0, 0), (0.1, 100), (0.3, 100), (0.5, 300)]);
        assert_eq!(t.bytes_at(0.05), 50);
        assert_eq!(t.bytes_at(0.2), 100, "a flat stretch stays flat");
        assert_eq!(t.bytes_at(0.4), 200);
        assert_eq!(t.bytes_at(9.0), 300);
    }

    #[test]
    fn bytes_before_the_first_sample_are_zero() {
        let t = trace(&[(1.0, 10)]);
        assert_eq!(t.bytes_at(0.5), 0);
        assert_eq!(t.bytes_at(1.0), 10);
        assert!(DeliveryTrace::default().throughput(0.1).is_empty());
    }
}
