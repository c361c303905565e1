//! [`ChildProcess`]: a child process that cannot outlive the lab.
//!
//! Three layers make sure no server or client is left running:
//! - the guard kills (SIGKILL) and reaps its child when dropped, so every early return, `?`
//!   and panic cleans up;
//! - every wait polls [`interrupt::check`], so Ctrl-C unwinds through those drops;
//! - the child asks the kernel for `PR_SET_PDEATHSIG(SIGKILL)`, so even a SIGKILLed lab takes
//!   its children with it. (The signal fires when the *thread* that spawned the child exits:
//!   keep a guard on the thread that created it.)

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::interrupt;

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
    /// to `log` (unless the command already redirects them).
    pub fn spawn(name: impl Into<String>, mut command: Command, log: &Path) -> Result<Self> {
        let name = name.into();
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| LabError::io(log, e))?;
        let log_copy = log_file.try_clone().map_err(|e| LabError::io(log, e))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_copy))
            .stderr(Stdio::from(log_file));
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(|e| LabError::process(format!("starting {name}"), e))?;
        Ok(ChildProcess {
            name,
            log: log.to_path_buf(),
            child,
            exit: None,
        })
    }

    /// The child's role, as given to [`spawn`](Self::spawn).
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

    /// The exit status if the child has exited (reaping it), without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .map_err(|e| LabError::process(format!("waiting for {}", self.name), e))?;
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
                return Err(LabError::Timeout {
                    what: format!("{} to exit", self.name),
                    after: limit,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls `ready` every [`READY_POLL`] until it says yes; fails with the child's log if it
    /// exits first, on Ctrl-C, or with a timeout naming `what` after `limit`.
    pub fn wait_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Err(self.failure(Some(status)));
            }
            interrupt::check()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout {
                    what: what.to_owned(),
                    after: limit,
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// Fails with the child's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.try_wait()? {
            Some(status) => Err(self.failure(Some(status))),
            None => Ok(()),
        }
    }

    /// Sends SIGKILL and reaps the child (a crash, as far as the child can tell).
    pub fn kill_hard(&mut self) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        // `Child::kill` sends SIGKILL on Unix.
        self.child
            .kill()
            .map_err(|e| LabError::process(format!("killing {}", self.name), e))?;
        self.exit = Some(
            self.child
                .wait()
                .map_err(|e| LabError::process(format!("reaping {}", self.name), e))?,
        );
        Ok(())
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, SIGHUP, ...) unless the child has exited.
    pub fn signal(&mut self, signal: libc::c_int) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.pid()).map_err(|_| {
            LabError::process(
                format!("signalling {}", self.name),
                std::io::Error::other("pid out of range"),
            )
        })?;
        // SAFETY: plain kill(2) on a child we have not reaped yet, so the pid is still ours.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(LabError::process(
                format!("signalling {}", self.name),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Sends SIGTERM, waits up to `grace` for a clean exit, then SIGKILLs.
    pub fn terminate(&mut self, grace: Duration) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        // A paused child would not act on SIGTERM.
        self.signal(libc::SIGCONT)?;
        self.signal(libc::SIGTERM)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        self.kill_hard()
    }

    /// A [`LabError::ChildFailed`] describing this child's exit, quoting its log; or
    /// [`LabError::Interrupted`] if Ctrl-C (which the child may have received too) came first.
    pub fn failure(&self, status: Option<ExitStatus>) -> LabError {
        if interrupt::interrupted() {
            return LabError::Interrupted;
        }
        LabError::ChildFailed {
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
                    "the lab exited while starting a child",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A zombie would still answer kill(0); the guard reaps, so "gone" means gone.
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn dropped_guard_kills_and_reaps_its_child() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("sleep");
        command.arg("30");
        let child = ChildProcess::spawn("sleep", command, &dir.path().join("log")).expect("spawn");
        let pid = child.pid();
        assert!(alive(pid));
        drop(child);
        assert!(!alive(pid), "the child outlived its guard");
    }

    fn shell(dir: &tempfile::TempDir, script: &str) -> ChildProcess {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        ChildProcess::spawn("sh", command, &dir.path().join("log")).expect("spawn")
    }

    #[test]
    fn failure_names_the_exit_and_quotes_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = shell(&dir, "echo first; echo 'the real reason' >&2; exit 3");
        let status = child.wait_for(Duration::from_secs(10)).expect("exits");
        let message = child.failure(Some(status)).to_string();
        assert!(message.contains("exit status 3"), "{message}");
        assert!(message.contains("the real reason"), "{message}");
    }

    #[test]
    fn wait_until_fails_with_the_log_when_the_child_exits_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = shell(&dir, "echo 'cannot bind' >&2; exit 4");
        let error = child
            .wait_until("sh to be ready", Duration::from_secs(10), || false)
            .expect_err("the child exits");
        let message = error.to_string();
        assert!(message.contains("exit status 4"), "{message}");
        assert!(message.contains("cannot bind"), "{message}");
    }

    #[test]
    fn wait_for_is_bounded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child =
            ChildProcess::spawn("sleep", command, &dir.path().join("log")).expect("spawn");
        let error = child
            .wait_for(Duration::from_millis(50))
            .expect_err("must time out");
        assert!(matches!(error, LabError::Timeout { .. }), "{error}");
    }
}
