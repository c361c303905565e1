//! The `--stats-json` documents of `trickles-client`, as the lab reads them: a flat
//! [`TransferStats`] for one transfer, a [`ParallelReport`] for `--parallel N`.
//!
//! The JSON is the interface between the client and the lab (the lab does not link the
//! client), so these mirror the fields the client documents; unknown fields are ignored.

use std::path::Path;

use serde::Deserialize;

use crate::error::{LabError, Result};

/// One completed transfer.
#[derive(Clone, Debug, Deserialize)]
pub struct TransferStats {
    /// The URL fetched.
    pub url: String,
    /// `"trickles"` or `"http"`.
    pub protocol: String,
    /// Body bytes delivered.
    pub bytes: u64,
    /// From the start of the fetch to the last byte.
    pub seconds: f64,
    /// Megabits per second.
    pub goodput_mbps: f64,
    /// Retransmissions (Trickles; 0 for HTTP).
    pub retransmissions: u64,
    /// Longest gap between two deliveries of new bytes, in milliseconds.
    pub longest_stall_ms: f64,
    /// Time to the first body byte, in milliseconds.
    #[serde(default)]
    pub first_byte_ms: f64,
    /// HTTP range resumes.
    #[serde(default)]
    pub reconnects: u32,
    /// Lower-case hex SHA-256 of the body.
    pub sha256: String,
}

/// Sums over the transfers of a `--parallel` run.
#[derive(Clone, Debug, Deserialize)]
pub struct ParallelTotals {
    /// Total body bytes.
    pub bytes: u64,
    /// Wall-clock time of the whole run.
    pub seconds: f64,
    /// Aggregate goodput, megabits per second.
    pub goodput_mbps: f64,
    /// Total retransmissions.
    pub retransmissions: u64,
    /// Longest stall of any transfer, milliseconds.
    pub longest_stall_ms: f64,
}

/// The document of a `--parallel N` run.
#[derive(Clone, Debug, Deserialize)]
pub struct ParallelReport {
    /// Number of concurrent transfers.
    pub parallel: usize,
    /// One entry per transfer.
    pub transfers: Vec<TransferStats>,
    /// Sums and maxima.
    pub totals: ParallelTotals,
}

/// Reads a single-transfer document.
pub fn read_transfer(path: &Path) -> Result<TransferStats> {
    read(path)
}

/// Reads a `--parallel` document.
pub fn read_parallel(path: &Path) -> Result<ParallelReport> {
    read(path)
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| LabError::Stats {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_document_of_the_client_parses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"url":"trickles://127.0.0.1:1/f","protocol":"trickles","bytes":4,
               "seconds":0.5,"goodput_mbps":0.000064,"retransmissions":2,
               "longest_stall_ms":36.5,"first_byte_ms":0.8,"reconnects":0,
               "sha256":"ab","future_field":1}"#,
        )
        .expect("write");
        let stats = read_transfer(&path).expect("parse");
        assert_eq!((stats.bytes, stats.retransmissions), (4, 2));
        assert_eq!(stats.sha256, "ab");
    }

    #[test]
    fn truncated_document_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"url":"#).expect("write");
        let error = read_transfer(&path).expect_err("must fail");
        assert!(error.to_string().contains("s.json"), "{error}");
    }
}
