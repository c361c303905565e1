//! [`ClientProcess`]: one running `trickles-client get` in a host, started from a
//! [`ClientSpec`]; its statistics come back through `--stats-json`, parsed with the client's own
//! types ([`TransferStats`], [`ParallelReport`]), so a changed field is a compile error here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub use trickles_client::{ParallelReport, TransferStats};

use crate::binaries::Binaries;
use crate::children::ChildProcess;
use crate::error::{LabError, Result};
use crate::topology::Host;

/// How to run one client.
#[derive(Clone, Debug, Default)]
pub struct ClientSpec {
    /// `trickles://HOST:PORT/PATH` or `http://HOST:PORT/PATH`.
    pub url: String,
    /// Where the body goes (`-o`); `/dev/null` for benchmarks. With `parallel`, the client
    /// writes `FILE.0` .. `FILE.N-1`, and `None` discards the bodies.
    pub output: Option<PathBuf>,
    /// The `--stats-json` file.
    pub stats_json: PathBuf,
    /// `--timeout`: give up after this long without progress.
    pub idle_timeout: Duration,
    /// `--parallel N`: N concurrent transfers of the URL, reported as a [`ParallelReport`]
    /// (even for N = 1); `None`: a single transfer (flag not given), a [`TransferStats`].
    pub parallel: Option<u32>,
    /// `--server`, once each: the replicas the client chooses among (none: the URL's host).
    pub servers: Vec<SocketAddr>,
    /// `--via`: send every datagram through this packet mirror (`trickles://` only).
    pub via: Option<SocketAddr>,
    /// `--http-range-resume`: an `http://` transfer whose connection breaks reconnects and
    /// asks for the rest (`Range: bytes=N-`).
    pub range_resume: bool,
    /// `--http-stall-resume`: with range resume, a body stalled this long is resumed on a new
    /// connection.
    pub stall_resume: Option<Duration>,
    /// `--metrics`: serve the client's Prometheus metrics here while it runs.
    pub metrics: Option<SocketAddr>,
    /// The client may fail (a TCP transfer whose server's host crashed): the transfer reports
    /// the failure instead of failing the run.
    pub allow_failure: bool,
    /// Where the client's stdout and stderr go.
    pub log: PathBuf,
}

impl ClientSpec {
    /// One transfer of `url` into `output`, files named after `stem` in `dir`.
    pub fn single(url: String, output: PathBuf, dir: &std::path::Path, stem: &str) -> Self {
        ClientSpec {
            url,
            output: Some(output),
            stats_json: dir.join(format!("{stem}.stats.json")),
            idle_timeout: Duration::from_secs(20),
            log: dir.join(format!("{stem}.log")),
            ..ClientSpec::default()
        }
    }
}

/// A running client; killed when dropped.
#[derive(Debug)]
pub struct ClientProcess {
    child: ChildProcess,
    spec: ClientSpec,
}

impl ClientProcess {
    /// Starts `trickles-client get` in `host` as described by `spec`.
    pub fn start(binaries: &Binaries, host: &Host, spec: ClientSpec) -> Result<Self> {
        let _ = std::fs::remove_file(&spec.stats_json);
        let mut command = Command::new(&binaries.client);
        command
            .arg("get")
            .arg(&spec.url)
            .arg("--quiet")
            .arg("--timeout")
            .arg(format!("{}", spec.idle_timeout.as_secs_f64()))
            .arg("--stats-json")
            .arg(&spec.stats_json);
        // An explicit --parallel (even 1) switches the client to the per-transfer output
        // files and the `ParallelReport` document.
        if let Some(transfers) = spec.parallel {
            command.arg("--parallel").arg(transfers.to_string());
        }
        for server in &spec.servers {
            command.arg("--server").arg(server.to_string());
        }
        if let Some(mirror) = spec.via {
            command.arg("--via").arg(mirror.to_string());
        }
        if let Some(output) = &spec.output {
            command.arg("-o").arg(output);
        }
        if spec.range_resume {
            command.arg("--http-range-resume");
        }
        if let Some(metrics) = spec.metrics {
            command.arg("--metrics").arg(metrics.to_string());
        }
        if let Some(stall) = spec.stall_resume {
            command
                .arg("--http-stall-resume")
                .arg(stall.as_secs_f64().to_string());
        }
        host.enter(&mut command)?;
        let child = ChildProcess::spawn(CLIENT_NAME, command, &spec.log)?;
        Ok(ClientProcess { child, spec })
    }

    /// The spec it was started from.
    pub fn spec(&self) -> &ClientSpec {
        &self.spec
    }

    /// Whether it has exited (without blocking).
    pub fn has_exited(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Fails, quoting the client's log, if it has exited at all: for a flow that must still be
    /// running (a measurement window), even a successful exit is too early.
    pub fn check_running(&mut self) -> Result<()> {
        Ok(self.child.check_running()?)
    }

    /// Waits at most `limit` for a successful exit and reads the single-transfer statistics.
    pub fn finish(mut self, limit: Duration) -> Result<TransferStats> {
        self.wait_success(limit)?;
        read_stats(&self.spec.stats_json)
    }

    /// Waits at most `limit` for a successful exit and reads the `--parallel` statistics.
    pub fn finish_parallel(mut self, limit: Duration) -> Result<ParallelReport> {
        self.wait_success(limit)?;
        read_stats(&self.spec.stats_json)
    }

    fn wait_success(&mut self, limit: Duration) -> Result<()> {
        let status = self.child.wait_for(limit)?;
        if status.success() {
            Ok(())
        } else {
            Err(self.child.failure(Some(status)).into())
        }
    }
}

const CLIENT_NAME: &str = "trickles-client";

/// Reads a `--stats-json` document.
pub fn read_stats<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
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
    fn truncated_document_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"url":"#).expect("write");
        let error = read_stats::<TransferStats>(&path).expect_err("must fail");
        assert!(error.to_string().contains("s.json"), "{error}");
    }
}
