//! [`ServerProcess`]: one running `trickles-server` replica, started from a [`ServerSpec`] and
//! ready (its `/healthz` answers) before [`ServerProcess::start`] returns; plus [`keygen`].
//!
//! The health endpoint is served only after the UDP sockets are bound (the server binds UDP,
//! then spawns its HTTP tasks), so a healthy replica is ready for Trickles requests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::binaries::Binaries;
use crate::children::ChildProcess;
use crate::error::Result;
use crate::http_probe;
use crate::testbed::namespace::run_in;
use crate::testbed::NamespaceRef;

/// How long a replica may take to become healthy.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a stopping replica gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to run one replica.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Directory of served files (`--root`).
    pub root: PathBuf,
    /// Key file shared by the pool (`--key-file`).
    pub key_file: PathBuf,
    /// UDP addresses for Trickles (`--listen`, one or more).
    pub listen: Vec<SocketAddr>,
    /// TCP address of the HTTP baseline (`--tcp-listen`), if wanted.
    pub tcp_listen: Option<SocketAddr>,
    /// Address of `/metrics` and `/healthz` (`--metrics`); the lab needs it for readiness.
    pub metrics: SocketAddr,
    /// Balancers whose encapsulated datagrams the replica trusts (`--balancer`).
    pub balancers: Vec<SocketAddr>,
    /// UDP worker threads (`--workers`); the server's default when `None`.
    pub workers: Option<usize>,
    /// VIPs to answer direct-return requests from (`--dsr-vip`; the VIP must be local).
    pub dsr_vips: Vec<SocketAddr>,
    /// Stream bytes per data packet (`--mss`); the server's default (1200) when `None`.
    pub mss: Option<usize>,
    /// Where the replica's stdout and stderr go.
    pub log: PathBuf,
}

/// A running, healthy replica; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: ChildProcess,
    spec: ServerSpec,
    netns: Option<NamespaceRef>,
}

impl ServerProcess {
    /// Starts a replica named `name` and waits until its `/healthz` answers 200.
    pub fn start(binaries: &Binaries, spec: ServerSpec, name: &str) -> Result<Self> {
        Self::start_in(binaries, spec, name, None)
    }

    /// [`ServerProcess::start`] inside a testbed namespace (`None`: the lab's own).
    pub fn start_in(
        binaries: &Binaries,
        spec: ServerSpec,
        name: &str,
        netns: Option<&NamespaceRef>,
    ) -> Result<Self> {
        let mut server = ServerProcess::spawn_in(binaries, spec, name, netns)?;
        server.wait_healthy()?;
        Ok(server)
    }

    /// Starts a replica named `name` without waiting for it (see [`poll_healthy`]).
    ///
    /// [`poll_healthy`]: Self::poll_healthy
    pub fn spawn(binaries: &Binaries, spec: ServerSpec, name: &str) -> Result<Self> {
        ServerProcess::spawn_in(binaries, spec, name, None)
    }

    /// [`ServerProcess::spawn`] inside a testbed namespace (`None`: the lab's own).
    pub fn spawn_in(
        binaries: &Binaries,
        spec: ServerSpec,
        name: &str,
        netns: Option<&NamespaceRef>,
    ) -> Result<Self> {
        let mut command = Command::new(&binaries.server);
        command
            .arg("--root")
            .arg(&spec.root)
            .arg("--key-file")
            .arg(&spec.key_file)
            .arg("--metrics")
            .arg(spec.metrics.to_string());
        for addr in &spec.listen {
            command.arg("--listen").arg(addr.to_string());
        }
        if let Some(addr) = spec.tcp_listen {
            command.arg("--tcp-listen").arg(addr.to_string());
        }
        for addr in &spec.balancers {
            command.arg("--balancer").arg(addr.to_string());
        }
        if let Some(workers) = spec.workers {
            command.arg("--workers").arg(workers.to_string());
        }
        for vip in &spec.dsr_vips {
            command.arg("--dsr-vip").arg(vip.to_string());
        }
        if let Some(mss) = spec.mss {
            command.arg("--mss").arg(mss.to_string());
        }
        if let Some(netns) = netns {
            netns.enter(&mut command)?;
        }
        let child = ChildProcess::spawn(name, command, &spec.log)?;
        Ok(ServerProcess {
            child,
            spec,
            netns: netns.cloned(),
        })
    }

    /// Whether its `/healthz` answers 200 now; fails with its log if it has exited.
    pub fn poll_healthy(&mut self) -> Result<bool> {
        self.child.check_running()?;
        let metrics = self.spec.metrics;
        Ok(run_in(self.netns.as_ref(), || http_probe::healthy(metrics)).unwrap_or(false))
    }

    /// Waits until its `/healthz` answers 200 (fails with its log if it exits first).
    pub fn wait_healthy(&mut self) -> Result<()> {
        let what = format!("{} to become healthy", self.child.name());
        let metrics = self.spec.metrics;
        let netns = self.netns.clone();
        self.child.wait_until(&what, START_LIMIT, || {
            run_in(netns.as_ref(), || http_probe::healthy(metrics)).unwrap_or(false)
        })
    }

    /// The spec it was started from.
    pub fn spec(&self) -> &ServerSpec {
        &self.spec
    }

    /// The operating system's process id (for RSS sampling).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The `/metrics` text, if the replica answers.
    pub fn metrics(&self) -> Option<String> {
        let metrics = self.spec.metrics;
        run_in(self.netns.as_ref(), || http_probe::metrics_text(metrics)).flatten()
    }

    /// Fails with the replica's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.child.check_running()
    }

    /// SIGKILL: the replica dies as in a crash, with no chance to clean up.
    pub fn kill_hard(&mut self) -> Result<()> {
        self.child.kill_hard()
    }

    /// SIGTERM, then SIGKILL if it does not stop within a few seconds.
    pub fn stop(mut self) -> Result<()> {
        self.child.terminate(STOP_GRACE)
    }
}

/// Writes a new key file with `trickles-server keygen -o path`.
pub fn keygen(binaries: &Binaries, path: &Path, log: &Path) -> Result<()> {
    let mut command = Command::new(&binaries.server);
    command.arg("keygen").arg("-o").arg(path);
    let mut child = ChildProcess::spawn("trickles-server keygen", command, log)?;
    let status = child.wait_for(Duration::from_secs(20))?;
    if status.success() {
        Ok(())
    } else {
        Err(child.failure(Some(status)))
    }
}
