//! `trickles-anycast drain`: find the running controller's pid in its state file, send it
//! `SIGUSR2`, and wait until the file says `safe_to_stop`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::AnycastError;
use crate::state_file::{Phase, StateFile};

/// How often the state file is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Drain the controller whose state file is `path`; waits at most `timeout`.
pub fn drain(path: &Path, timeout: Duration) -> Result<StateFile, AnycastError> {
    let fail = |reason: String| AnycastError::StateFile {
        path: path.to_owned(),
        reason,
    };
    let state = StateFile::read(path).map_err(|reason| {
        fail(format!(
            "{reason} (is a controller running with this state file?)"
        ))
    })?;
    if state.state == Phase::Stopped {
        return Err(fail(format!(
            "the controller (pid {}) has stopped",
            state.pid
        )));
    }
    let pid =
        libc::pid_t::try_from(state.pid).map_err(|_| fail(format!("bad pid {}", state.pid)))?;
    // SAFETY: kill(2) with a pid read from the file and a constant signal number.
    if unsafe { libc::kill(pid, libc::SIGUSR2) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(fail(format!(
            "cannot signal pid {pid}: {e} (is the controller running?)"
        )));
    }
    let started = Instant::now();
    loop {
        if let Ok(state) = StateFile::read(path) {
            if state.safe_to_stop {
                return Ok(state);
            }
        }
        if started.elapsed() > timeout {
            return Err(fail(format!("not drained after {timeout:?}")));
        }
        std::thread::sleep(POLL);
    }
}
