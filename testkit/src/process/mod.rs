//! [`ChildProcess`]: a child process that cannot outlive the test (or the program) that
//! started it.
//!
//! Three layers make sure no child is left running:
//! - the guard kills (SIGKILL) and reaps its child when dropped, so every early return, `?`
//!   and panic cleans up;
//! - every wait polls [`interrupt::check`], so Ctrl-C unwinds through those drops in a
//!   program that installed the handlers;
//! - the child asks the kernel for `PR_SET_PDEATHSIG(SIGKILL)`, so even a SIGKILLed parent
//!   takes its children with it. (The signal fires when the *thread* that spawned the child
//!   exits: keep a guard on the thread that created it.)
//!
//! The child's stdout and stderr go to a log file, which [`ChildProcess::failure`] quotes.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Result, TestkitError};
use crate::interrupt;
use crate::namespace::NamespaceRef;

/// How often waiting loops poll a child.
const POLL: Duration = Duration::from_millis(10);
/// How often [`ChildProcess::wait_until`] asks whether the child is ready.
const READY_POLL: Duration = Duration::from_millis(20);
/// How many lines of a log an error message quotes.
const TAIL_LINES: usize = 15;

/// A running child whose stdout and stderr go to a log file; killed when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    log: PathBuf,
    child: Child,
    exit: Option<ExitStatus>,
}

impl ChildProcess {
    /// Starts `command` as `name` (used in messages), stdin closed, stdout and stderr appended
    /// to `log`.
    pub fn spawn(name: impl Into<String>, command: Command, log: &Path) -> Result<Self> {
        ChildProcess::spawn_in(name, command, log, None)
    }

    /// [`spawn`](Self::spawn) inside a network namespace (`None`: this process's own); the
    /// child enters it with `setns(2)` before `exec`.
    pub fn spawn_in(
        name: impl Into<String>,
        mut command: Command,
        log: &Path,
        netns: Option<&NamespaceRef>,
    ) -> Result<Self> {
        let name = name.into();
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| TestkitError::io(log, e))?;
        let log_copy = log_file.try_clone().map_err(|e| TestkitError::io(log, e))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_copy))
            .stderr(Stdio::from(log_file));
        if let Some(netns) = netns {
            netns.enter(&mut command)?;
        }
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(|e| TestkitError::process(format!("starting {name}"), e))?;
        Ok(ChildProcess {
            name,
            log: log.to_path_buf(),
            child,
            exit: None,
        })
    }

    /// Writes `yaml` to `config` and starts `program --config CONFIG` as `name`: how the
    /// network functions (`trickles-balancer`, `trickles-mirror`) start.
    pub fn spawn_configured(
        name: &str,
        program: &Path,
        config: &Path,
        yaml: &str,
        log: &Path,
    ) -> Result<Self> {
        ChildProcess::spawn_configured_in(name, program, config, yaml, log, None)
    }

    /// [`spawn_configured`](Self::spawn_configured) inside a network namespace (`None`: this
    /// process's own).
    pub fn spawn_configured_in(
        name: &str,
        program: &Path,
        config: &Path,
        yaml: &str,
        log: &Path,
        netns: Option<&NamespaceRef>,
    ) -> Result<Self> {
        std::fs::write(config, yaml).map_err(|e| TestkitError::io(config, e))?;
        let mut command = Command::new(program);
        command.arg("--config").arg(config);
        ChildProcess::spawn_in(name, command, log, netns)
    }

    /// The child's name, as given to [`spawn`](Self::spawn).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating system's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file of the child.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Everything the child has written so far (empty if the log cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status if the child has exited (reaping it), without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .map_err(|e| TestkitError::process(format!("waiting for {}", self.name), e))?;
        }
        Ok(self.exit)
    }

    /// Waits for the child to exit, at most `limit`; Ctrl-C interrupts the wait.
    pub fn wait_for(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            interrupt::check()?;
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} to exit", self.name),
                    after: limit,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls `ready` until it says yes; fails with the child's log if it exits first, on
    /// Ctrl-C, or with a timeout naming `what` after `limit`. The readiness wait.
    pub fn wait_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        self.wait_for_value(what, limit, || ready().then_some(()))
    }

    /// [`wait_until`](Self::wait_until) for a probe that finds something (an address, a
    /// count): returns the first value `probe` gives.
    pub fn wait_for_value<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Err(self.failure(Some(status)));
            }
            interrupt::check()?;
            if let Some(value) = probe() {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: what.to_owned(),
                    after: limit,
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// Waits until a line of the log starts with `prefix` and returns the rest of it: how a
    /// program that announces its address (`listening on ADDR`) is awaited.
    pub fn wait_for_log_line(&mut self, prefix: &str, limit: Duration) -> Result<String> {
        let log = self.log.clone();
        self.wait_for_value(&format!("`{prefix}` in {}", log.display()), limit, || {
            let text = std::fs::read_to_string(&log).ok()?;
            let rest = text.lines().find_map(|line| line.strip_prefix(prefix))?;
            Some(rest.to_owned())
        })
    }

    /// Waits until the log contains `needle` (a line the program logs when it is ready, or
    /// has done something).
    pub fn wait_for_log_text(&mut self, needle: &str, limit: Duration) -> Result<()> {
        let log = self.log.clone();
        self.wait_until(&format!("`{needle}` in {}", log.display()), limit, || {
            std::fs::read_to_string(&log).is_ok_and(|text| text.contains(needle))
        })
    }

    /// Fails with the child's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.try_wait()? {
            Some(status) => Err(self.failure(Some(status))),
            None => Ok(()),
        }
    }

    /// Sends `signal` (a `libc::SIG*` number) to the child, if it is still running.
    pub fn signal(&mut self, signal: libc::c_int) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let what = || format!("signalling {} with {signal}", self.name);
        let pid = libc::pid_t::try_from(self.pid()).map_err(|_| {
            TestkitError::process(what(), std::io::Error::other("pid out of range"))
        })?;
        // SAFETY: plain kill(2) on a child we have not reaped yet, so the pid is still ours.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(TestkitError::process(
                what(),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Stops the child with SIGSTOP: it keeps its sockets but answers nothing (a hung process).
    pub fn pause(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a [`pause`](Self::pause)d child run again (SIGCONT).
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// Sends SIGKILL and reaps the child (a crash, as far as the child can tell).
    pub fn kill_hard(&mut self) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        // `Child::kill` sends SIGKILL on Unix.
        self.child
            .kill()
            .map_err(|e| TestkitError::process(format!("killing {}", self.name), e))?;
        self.exit = Some(
            self.child
                .wait()
                .map_err(|e| TestkitError::process(format!("reaping {}", self.name), e))?,
        );
        Ok(())
    }

    /// Sends SIGTERM, waits up to `grace` for a clean exit, then SIGKILLs; the status is then
    /// [`exit_status`](Self::exit_status).
    pub fn terminate(&mut self, grace: Duration) -> Result<()> {
        // A paused child would not act on SIGTERM.
        self.signal(libc::SIGCONT)?;
        self.signal(libc::SIGTERM)?;
        match self.wait_for(grace) {
            Ok(_) => Ok(()),
            Err(TestkitError::Timeout { .. }) => self.kill_hard(),
            Err(other) => Err(other),
        }
    }

    /// How the child exited, once it has been reaped (by a wait, a kill or a termination).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exit
    }

    /// A [`TestkitError::ChildFailed`] describing this child's exit, quoting its log; or
    /// [`TestkitError::Interrupted`] if Ctrl-C (which the child may have received too) came
    /// first.
    pub fn failure(&self, status: Option<ExitStatus>) -> TestkitError {
        if interrupt::interrupted() {
            return TestkitError::Interrupted;
        }
        TestkitError::ChildFailed {
            name: self.name.clone(),
            status: status.map_or_else(|| "still running".to_owned(), describe_status),
            log: self.log.clone(),
            tail: log_tail(&self.log, TAIL_LINES),
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// "exit status 3" or "killed by signal 9".
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The last `lines` lines of a log file (or a note saying it cannot be read).
pub fn log_tail(log: &Path, lines: usize) -> String {
    match std::fs::read(log) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

/// Makes the kernel SIGKILL the child when the spawning thread dies.
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2) and getppid(2),
    // both async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then we are already orphaned.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other(
                    "the parent exited while starting a child",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests;
