//! What a fetch reports: [`TransferStats`] per transfer and [`ParallelReport`] for `--parallel`.
//!
//! These are the `--stats-json` documents the lab reads, so field names are part of the
//! interface: `url, protocol, bytes, seconds, goodput_mbps, retransmissions,
//! longest_stall_ms, sha256` (plus `first_byte_ms`, `reconnects` and `unreachables`).

use serde::{Deserialize, Serialize};

/// The outcome of one completed transfer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferStats {
    /// The URL fetched, in canonical form.
    pub url: String,
    /// `"trickles"` or `"http"`.
    pub protocol: String,
    /// Body bytes delivered.
    pub bytes: u64,
    /// From the start of the fetch (before resolving/connecting) to the last byte.
    pub seconds: f64,
    /// `bytes · 8 / seconds / 10⁶`.
    pub goodput_mbps: f64,
    /// Retransmissions reported by the Trickles core; always 0 for HTTP (kernel TCP's are not
    /// visible to us).
    pub retransmissions: u64,
    /// Longest gap between two consecutive deliveries of new body bytes, in milliseconds
    /// (the wait for the first byte is `first_byte_ms`, not a stall).
    pub longest_stall_ms: f64,
    /// Time from the start of the fetch to the first body byte, in milliseconds.
    pub first_byte_ms: f64,
    /// HTTP range resumes performed after connection errors (0 for Trickles).
    pub reconnects: u32,
    /// ICMP "destination unreachable" errors for our datagrams that the Trickles client acted
    /// on at once (resending instead of waiting for its timer); 0 for HTTP.
    #[serde(default)]
    pub unreachables: u64,
    /// Moves of the Trickles transfer to the next of several replicas (`--server` given more
    /// than once) after its server proved unreachable; 0 for HTTP.
    #[serde(default)]
    pub replica_moves: u64,
    /// Lower-case hex SHA-256 of the body.
    pub sha256: String,
}

/// Goodput in megabits per second; 0 when no time has passed.
pub fn goodput_mbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds / 1e6
    } else {
        0.0
    }
}

/// Aggregate of the transfers of a `--parallel` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParallelTotals {
    /// Sum of the bytes of all transfers.
    pub bytes: u64,
    /// Wall-clock time of the whole run (first start to last finish).
    pub seconds: f64,
    /// Aggregate goodput: total bytes over the run's wall-clock time.
    pub goodput_mbps: f64,
    /// Sum of the retransmissions.
    pub retransmissions: u64,
    /// The longest stall of any transfer.
    pub longest_stall_ms: f64,
}

/// The `--stats-json` document of a `--parallel N` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParallelReport {
    /// The URL every transfer fetched.
    pub url: String,
    /// `"trickles"` or `"http"`.
    pub protocol: String,
    /// Number of concurrent transfers.
    pub parallel: usize,
    /// One entry per transfer, in index order (transfer `i` wrote `FILE.i`).
    pub transfers: Vec<TransferStats>,
    /// Sums and maxima over `transfers`.
    pub totals: ParallelTotals,
}

impl ParallelReport {
    /// Builds the report; `seconds` is the wall-clock time of the whole run.
    pub fn new(url: String, protocol: String, transfers: Vec<TransferStats>, seconds: f64) -> Self {
        let bytes = transfers.iter().map(|t| t.bytes).sum();
        let totals = ParallelTotals {
            bytes,
            seconds,
            goodput_mbps: goodput_mbps(bytes, seconds),
            retransmissions: transfers.iter().map(|t| t.retransmissions).sum(),
            longest_stall_ms: transfers
                .iter()
                .map(|t| t.longest_stall_ms)
                .fold(0.0, f64::max),
        };
        ParallelReport {
            url,
            protocol,
            parallel: transfers.len(),
            transfers,
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_report_parses_back_into_the_same_report() {
        let transfer = |bytes: u64, stall: f64| TransferStats {
            url: "trickles://198.18.0.1:4433/f.bin".into(),
            protocol: "trickles".into(),
            bytes,
            seconds: 0.5,
            goodput_mbps: goodput_mbps(bytes, 0.5),
            retransmissions: 2,
            longest_stall_ms: stall,
            first_byte_ms: 1.25,
            reconnects: 0,
            unreachables: 0,
            replica_moves: 0,
            sha256: "ab".repeat(32),
        };
        let report = ParallelReport::new(
            "trickles://198.18.0.1:4433/f.bin".into(),
            "trickles".into(),
            vec![transfer(1_000, 3.5), transfer(2_000, 7.0)],
            0.75,
        );
        let json = serde_json::to_string(&report).expect("serializes");
        let parsed: ParallelReport = serde_json::from_str(&json).expect("parses");
        assert_eq!(parsed, report);
        assert_eq!(parsed.totals.bytes, 3_000);
        assert_eq!(parsed.totals.longest_stall_ms, 7.0);
    }
}
