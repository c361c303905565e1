//! Services: the project's programs (and the tools an experiment needs) run as real processes in
//! a [`Host`], one way for all of them.
//!
//! A kind of service is a [`ServiceSpec`]: which program, the arguments (its configuration file
//! written from the program crate's own config type, so the compiler checks the contract), and
//! what "ready" means. [`Service`] runs any spec: it starts the process inside the host's
//! namespace, waits until it is ready, keeps one log per start (quoted when it fails), and kills
//! it on every exit path: drop, `?`, panic and Ctrl-C ([`crate::children`]). A failure schedule
//! acts on it through [`kill`](Service::kill), [`restart`](Service::restart),
//! [`pause`](Service::pause) and [`resume`](Service::resume).
//!
//! Adding a kind of service is one small file: a spec struct and its `ServiceSpec` impl
//! ([`server`], [`balancer`], [`mirror`], [`tunnel`], [`bird`], [`anycast`]). The client is not a service (it runs to
//! completion): [`client`] starts it the same way and reads its statistics.

pub mod anycast;
pub mod balancer;
pub mod bird;
pub mod client;
pub mod mirror;
pub mod server;
pub mod tunnel;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::binaries::Binaries;
use crate::children::ChildProcess;
use crate::error::{LabError, Result};
use crate::http_probe;
use crate::topology::Host;

/// How long a service may take to become ready.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a stopping service gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where a service's files go: `DIR/NAME.yaml` for its configuration, `DIR/NAME.START.log` for
/// the output of each start.
#[derive(Clone, Debug)]
pub struct ServiceFiles {
    dir: PathBuf,
    name: String,
}

impl ServiceFiles {
    /// Files of the service `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        ServiceFiles {
            dir: dir.to_path_buf(),
            name: name.replace([' ', '/'], "-"),
        }
    }

    /// `DIR/NAME.EXT`, e.g. its configuration.
    pub fn file(&self, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", self.name))
    }

    /// Serializes `config` as YAML into `DIR/NAME.yaml` and returns `["--config", path]`.
    pub fn yaml_config<T: serde::Serialize>(&self, config: &T) -> Result<Vec<OsString>> {
        let path = self.file("yaml");
        let text = serde_yaml::to_string(config)
            .map_err(|e| LabError::Usage(format!("writing {}: {e}", path.display())))?;
        std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;
        Ok(vec!["--config".into(), path.into()])
    }

    fn log(&self, start: usize) -> PathBuf {
        self.dir.join(format!("{}.{start}.log", self.name))
    }
}

/// A kind of service.
pub trait ServiceSpec: Sync {
    /// The executable.
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path>;

    /// Writes what the program reads (its configuration) under `files` and returns its
    /// arguments.
    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>>;

    /// Its `/metrics` and `/healthz` endpoint, if it has one.
    fn control(&self) -> Option<SocketAddr>;

    /// Whether the service is ready for traffic; runs inside its host. By default: its
    /// `/healthz` answers 200.
    fn ready(&self) -> bool {
        self.control().is_some_and(http_probe::healthy)
    }

    /// What [`ready`](Self::ready) waits for, for messages.
    fn readiness(&self) -> &'static str {
        "to become healthy"
    }
}

/// A service in a host; its process is killed when this is dropped.
#[derive(Debug)]
pub struct Service<S: ServiceSpec> {
    name: String,
    host: Host,
    spec: S,
    files: ServiceFiles,
    binaries: Binaries,
    process: Option<ChildProcess>,
    starts: usize,
}

impl<S: ServiceSpec> Service<S> {
    /// Starts `spec` as `name` in `host` (files in `dir`) and waits until it is ready.
    pub fn start(
        binaries: &Binaries,
        host: &Host,
        spec: S,
        name: &str,
        dir: &Path,
    ) -> Result<Self> {
        let mut service = Service {
            name: name.to_owned(),
            host: host.clone(),
            spec,
            files: ServiceFiles::new(dir, name),
            binaries: binaries.clone(),
            process: None,
            starts: 0,
        };
        service.launch()?;
        Ok(service)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host it runs in.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// What it was started from.
    pub fn spec(&self) -> &S {
        &self.spec
    }

    /// What it will be started from next time ([`restart`](Self::restart)): change its
    /// configuration, then restart it (or [`reload`](Self::reload) after rewriting the file).
    pub fn spec_mut(&mut self) -> &mut S {
        &mut self.spec
    }

    /// Whether a process runs (not killed or crashed).
    pub fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(process) => matches!(process.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The operating system's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ChildProcess::pid)
    }

    /// Its `/metrics` text, if it runs and answers.
    pub fn metrics(&self) -> Option<String> {
        let control = self.spec.control()?;
        self.process.as_ref()?;
        self.host
            .probe(|| http_probe::metrics_text(control))
            .flatten()
    }

    /// Whether it answers "ready" now.
    pub fn probe_ready(&self) -> bool {
        self.host.probe(|| self.spec.ready()).unwrap_or(false)
    }

    /// Waits until it is ready again (e.g. a balancer with every backend back), at most
    /// `limit`; fails with its log if it exits first.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let what = format!("{} {}", self.name, self.spec.readiness());
        let (host, spec) = (&self.host, &self.spec);
        match &mut self.process {
            Some(process) => Ok(process.wait_until(&what, limit, || {
                host.probe(|| spec.ready()).unwrap_or(false)
            })?),
            None => Err(LabError::Usage(format!("{} is not running", self.name))),
        }
    }

    /// Fails, quoting its log, if its process has exited; nothing if it was killed on purpose.
    pub fn check_running(&mut self) -> Result<()> {
        match &mut self.process {
            Some(process) => Ok(process.check_running()?),
            None => Ok(()),
        }
    }

    /// SIGKILL: a crash, with no chance to clean up. Whether it was running.
    pub fn kill(&mut self) -> Result<bool> {
        match self.process.take() {
            Some(mut process) => Ok(process.kill_hard().map(|()| true)?),
            None => Ok(false),
        }
    }

    /// Forgets its process without signalling it: for a host crash, where the host took its
    /// processes with it.
    pub fn lost(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill_hard();
        }
    }

    /// A new process from the same spec (same addresses, same key), after killing the old one if
    /// it still runs; returns once it is ready.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.launch()
    }

    /// SIGSTOP: the process hangs (holds its sockets, answers nothing).
    pub fn pause(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// SIGHUP: reread its configuration.
    pub fn reload(&mut self) -> Result<()> {
        self.signal(libc::SIGHUP)
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(mut self) -> Result<()> {
        match self.process.take() {
            Some(mut process) => Ok(process.terminate(STOP_GRACE)?),
            None => Ok(()),
        }
    }

    /// Sends `signal` (e.g. SIGUSR2: a controller's drain).
    pub fn signal(&mut self, signal: libc::c_int) -> Result<()> {
        match &mut self.process {
            Some(process) => Ok(process.signal(signal)?),
            None => Err(LabError::Usage(format!("{} is not running", self.name))),
        }
    }

    fn launch(&mut self) -> Result<()> {
        let mut command = Command::new(self.spec.program(&self.binaries)?);
        command.args(self.spec.args(&self.files)?);
        self.host.enter(&mut command)?;
        let log = self.files.log(self.starts);
        self.starts += 1;
        self.process = Some(ChildProcess::spawn(&self.name, command, &log)?);
        self.wait_ready(START_LIMIT)
    }
}
