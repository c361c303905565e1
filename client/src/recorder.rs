//! [`TransferRecorder`]: the one place where body bytes are delivered, for both transports.
//!
//! Deliveries are in body order (Trickles' `read` yields in-order bytes; HTTP streams in order
//! and a range resume continues exactly where delivery stopped), so the recorder writes each
//! delivery at the running offset, hashes it, advances the progress reporter and measures the
//! gaps between deliveries (the longest one is the transfer's *stall*).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::metrics::{ClientMetrics, TransferMetrics, TransportTotals};
use crate::progress::ProgressReporter;
use crate::sink::BodySink;
use crate::stats::{goodput_mbps, TransferStats};
use crate::url::TargetUrl;

/// Writes, hashes, times and reports the body of one transfer.
pub struct TransferRecorder {
    sink: Box<dyn BodySink>,
    hasher: Sha256,
    delivered: u64,
    started: Instant,
    first_delivery: Option<Instant>,
    last_delivery: Option<Instant>,
    longest_stall: Duration,
    progress: Option<Arc<dyn ProgressReporter>>,
    metrics: Option<TransferMetrics>,
}

impl TransferRecorder {
    /// Starts recording now; `sink` receives the body.
    pub fn new(sink: Box<dyn BodySink>, progress: Option<Arc<dyn ProgressReporter>>) -> Self {
        TransferRecorder {
            sink,
            hasher: Sha256::new(),
            delivered: 0,
            started: Instant::now(),
            first_delivery: None,
            last_delivery: None,
            longest_stall: Duration::ZERO,
            progress,
            metrics: None,
        }
    }

    /// Also count this transfer in `metrics` (active from now until the recorder is finished
    /// or dropped).
    pub fn with_metrics(mut self, metrics: Option<&ClientMetrics>) -> Self {
        self.metrics = metrics.map(ClientMetrics::start_transfer);
        self
    }

    /// The transport's running totals (retransmissions, timeouts...), for the metrics.
    pub fn transport_totals(&mut self, totals: TransportTotals) {
        if let Some(metrics) = &mut self.metrics {
            metrics.transport_totals(totals);
        }
    }

    /// Body bytes delivered so far (= the offset of the next byte).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// When the last new byte arrived, or the start if none has yet (for idle timeouts).
    pub fn last_progress(&self) -> Instant {
        self.last_delivery.unwrap_or(self.started)
    }

    /// Tells the progress reporter how long the body is (call once, when learned).
    pub fn announce_length(&self, total: u64) {
        if let Some(progress) = &self.progress {
            progress.add_length(total);
        }
    }

    /// Delivers the next `data.len()` body bytes, observed at `now`.
    pub fn deliver(&mut self, now: Instant, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.sink.write_at(self.delivered, data)?;
        self.hasher.update(data);
        self.delivered += data.len() as u64;
        if let Some(metrics) = &self.metrics {
            let gap = self
                .last_delivery
                .map(|last| now.saturating_duration_since(last));
            metrics.delivered(data.len() as u64, gap);
        }
        match self.last_delivery {
            Some(last) => {
                self.longest_stall = self.longest_stall.max(now.saturating_duration_since(last))
            }
            None => self.first_delivery = Some(now),
        }
        self.last_delivery = Some(now);
        if let Some(progress) = &self.progress {
            progress.advance(data.len() as u64);
        }
        Ok(())
    }

    /// Flushes the sink and produces the transfer's statistics.
    pub fn finish(
        mut self,
        url: &TargetUrl,
        transport: TransportTotals,
        reconnects: u32,
    ) -> io::Result<TransferStats> {
        self.sink.finish()?;
        if let Some(metrics) = &mut self.metrics {
            metrics.completed();
        }
        let end = self.last_delivery.unwrap_or_else(Instant::now);
        let seconds = end.saturating_duration_since(self.started).as_secs_f64();
        let first_byte = self.first_delivery.map_or(Duration::ZERO, |first| {
            first.saturating_duration_since(self.started)
        });
        Ok(TransferStats {
            url: url.to_string(),
            protocol: url.scheme.name().to_owned(),
            bytes: self.delivered,
            seconds,
            goodput_mbps: goodput_mbps(self.delivered, seconds),
            retransmissions: transport.retransmissions,
            longest_stall_ms: self.longest_stall.as_secs_f64() * 1e3,
            first_byte_ms: first_byte.as_secs_f64() * 1e3,
            reconnects,
            unreachables: transport.unreachables,
            replica_moves: transport.replica_moves,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}
