//! [`DeliverySampler`]: a thread that samples how many bytes a client has written to its
//! output file, every few milliseconds, into a [`DeliveryTrace`], while the experiment's own
//! thread is busy elsewhere (starting a server blocks until it is healthy; the samples must not
//! pause meanwhile, or a pause in sampling would look like a pause in delivery).
//!
//! The client writes the body in order, so the file's size is the number of bytes delivered.
//! The sampler is bounded in time and stops when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::delivery_trace::DeliveryTrace;

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
                let delivered = std::fs::metadata(&output).map_or(0, |m| m.len());
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
}
