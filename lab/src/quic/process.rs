//! Starting the QUIC baseline from the lab: [`QuicServer`] runs `PROGRAM quic-serve` and waits
//! for its address, [`QuicClient`] runs one `PROGRAM quic-get` and reads its statistics.
//! `PROGRAM` is the executable holding the hidden subcommands: the running `trickles-lab`, or
//! `CARGO_BIN_EXE_trickles-lab` in tests.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::children::ChildProcess;
use crate::error::{LabError, Result};
use crate::service::client::{read_stats, TransferStats};
use crate::topology::Host;

/// How long the server may take to make its certificate and bind.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `quic-serve`; killed when dropped.
#[derive(Debug)]
pub struct QuicServer {
    child: ChildProcess,
    addr: SocketAddr,
    cert: PathBuf,
    name: String,
    offload: String,
}

impl QuicServer {
    /// Serves `file` on `ip` (a free UDP port) from `host`; logs and certificate go to `dir`.
    pub fn start(program: &Path, host: &Host, ip: IpAddr, file: &Path, dir: &Path) -> Result<Self> {
        let cert = dir.join("quic-cert.der");
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| LabError::Usage(format!("{}: no UTF-8 file name", file.display())))?
            .to_owned();
        let mut command = Command::new(program);
        command
            .arg("quic-serve")
            .arg("--listen")
            .arg(SocketAddr::new(ip, 0).to_string())
            .arg("--file")
            .arg(file)
            .arg("--cert-out")
            .arg(&cert);
        host.enter(&mut command)?;
        let mut child = ChildProcess::spawn("quic-serve", command, &dir.join("quic-serve.log"))?;
        let line = child.wait_for_log_line(super::server::LISTENING, START_LIMIT)?;
        let addr = line.trim().parse().map_err(|_| {
            LabError::quic(
                "starting the server",
                format!("bad address {line:?} in its log"),
            )
        })?;
        let offload = child.wait_for_log_line(super::server::OFFLOAD, START_LIMIT)?;
        Ok(QuicServer {
            child,
            addr,
            cert,
            name,
            offload: offload.trim().to_owned(),
        })
    }

    /// Its UDP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The UDP offloads its socket has, as it logged them (`GSO up to N segments, ...`).
    pub fn offload(&self) -> &str {
        &self.offload
    }

    /// The name of the file it serves (what a client asks for).
    pub fn file_name(&self) -> &str {
        &self.name
    }

    /// The process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Fails, quoting its log, if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        Ok(self.child.check_running()?)
    }

    /// Stops it (SIGTERM, then SIGKILL).
    pub fn stop(mut self) -> Result<()> {
        Ok(self.child.terminate(Duration::from_secs(2))?)
    }
}

/// A running `quic-get`; killed when dropped.
#[derive(Debug)]
pub struct QuicClient {
    child: ChildProcess,
    stats_json: PathBuf,
}

impl QuicClient {
    /// Asks `server` for the file `name` from `host`; the body goes to `output` (`None`:
    /// discarded), the statistics and the log to `dir`, named after `stem`.
    pub fn start(
        program: &Path,
        host: &Host,
        server: &QuicServer,
        name: &str,
        output: Option<&Path>,
        dir: &Path,
        stem: &str,
    ) -> Result<Self> {
        let stats_json = dir.join(format!("{stem}.stats.json"));
        let _ = std::fs::remove_file(&stats_json);
        let mut command = Command::new(program);
        command
            .arg("quic-get")
            .arg("--server")
            .arg(server.addr.to_string())
            .arg("--cert")
            .arg(&server.cert)
            .arg("--path")
            .arg(name)
            .arg("--stats-json")
            .arg(&stats_json);
        if let Some(output) = output {
            command.arg("--output").arg(output);
        }
        host.enter(&mut command)?;
        let child = ChildProcess::spawn("quic-get", command, &dir.join(format!("{stem}.log")))?;
        Ok(QuicClient { child, stats_json })
    }

    /// Waits at most `limit` for a successful exit and reads the statistics.
    pub fn finish(mut self, limit: Duration) -> Result<TransferStats> {
        let status = self.child.wait_for(limit)?;
        if !status.success() {
            return Err(self.child.failure(Some(status)).into());
        }
        read_stats(&self.stats_json)
    }
}
