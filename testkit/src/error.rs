//! [`TestkitError`]: why starting, waiting for or stopping a child process, or setting up a
//! network namespace, failed, in words that name the process, the file or the command.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong in the testkit's process and namespace guards.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Starting, signalling or reaping a process failed.
    #[error("{what}: {source}")]
    Process {
        /// The process and the operation, e.g. "starting trickles-server".
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A child exited when it should have kept running (or exited badly).
    #[error("{name} failed ({status}); last lines of {log}:\n{tail}")]
    ChildFailed {
        /// The child's name, e.g. "trickles-server r1".
        name: String,
        /// "exit status 3", "killed by signal 9" or "still running".
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// Something awaited did not happen in time.
    #[error("timed out after {:.1} s waiting for {what}", .after.as_secs_f64())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },
    /// SIGINT or SIGTERM arrived while waiting ([`crate::interrupt`]).
    #[error("interrupted")]
    Interrupted,
    /// A configuration command (`ip`, `tc`, `sysctl`) failed.
    #[error("`{command}` failed: {reason}")]
    Command {
        /// The command line that failed.
        command: String,
        /// Its exit status and standard error.
        reason: String,
    },
    /// A workspace binary is neither built nor buildable.
    #[error("{binary} not found at {path}: {reason}")]
    MissingBinary {
        /// The binary's name.
        binary: String,
        /// Where it was expected.
        path: PathBuf,
        /// Why it could not be built.
        reason: String,
    },
}

/// The testkit's results.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

impl TestkitError {
    /// A [`TestkitError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TestkitError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`TestkitError::Process`] for the operation `what`.
    pub fn process(what: impl Into<String>, source: std::io::Error) -> Self {
        TestkitError::Process {
            what: what.into(),
            source,
        }
    }
}
