//! [`LabError`]: everything that can stop a lab run, named by its cause and printed for humans.

use std::path::PathBuf;
use std::time::Duration;

use trickles_testkit::TestkitError;

/// Why a lab run (demo, benchmark, test fixture) failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file, a child process, a wait or a command of the shared guards failed (the file or
    /// process named, a child's log quoted), or Ctrl-C arrived.
    #[error(transparent)]
    Kit(#[from] TestkitError),
    /// Building trickles-server / trickles-client with cargo failed.
    #[error("building {what} failed: {reason}")]
    Build {
        /// What was being built.
        what: String,
        /// Cargo's exit status or the missing artifact.
        reason: String,
    },
    /// A binary the lab drives is not where it was looked for.
    #[error("{binary} not found at {path} (build it with `cargo build --release -p {binary}`, or pass --bin-dir)")]
    MissingBinary {
        /// The binary's name.
        binary: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A transfer delivered different bytes than the file on the server.
    #[error("{what}: sha256 {got} differs from the served file's {expected}")]
    Mismatch {
        /// Which transfer.
        what: String,
        /// The served file's digest.
        expected: String,
        /// What the client reported or wrote.
        got: String,
    },
    /// A statistics document from the client could not be read.
    #[error("{path}: not a trickles-client --stats-json document: {reason}")]
    Stats {
        /// The JSON file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plotting {path}: {reason}")]
    Plot {
        /// The image being written.
        path: PathBuf,
        /// The backend's complaint.
        reason: String,
    },
    /// A command-line value or option combination is invalid.
    #[error("{0}")]
    Usage(String),
    /// The run needs a privilege the lab does not have.
    #[error("{what} needs {privilege}: {how}")]
    Privilege {
        /// The experiment or operation, e.g. "trickles-lab exp memory".
        what: String,
        /// The missing privilege, e.g. "root (CAP_SYS_ADMIN and CAP_NET_ADMIN)".
        privilege: String,
        /// How to get it.
        how: String,
    },
    /// The QUIC baseline (server or client of `bench transfer`) failed.
    #[error("quic: {what}: {reason}")]
    Quic {
        /// What was being done, e.g. "connecting to 127.0.0.1:4433".
        what: String,
        /// quinn's or rustls' complaint.
        reason: String,
    },
    /// Building or changing the namespace testbed failed (`ip`, `tc` or `sysctl`).
    #[error("testbed: `{command}` failed: {reason}")]
    Testbed {
        /// The command line that failed.
        command: String,
        /// Its exit status and standard error.
        reason: String,
    },
}

impl LabError {
    /// A failed file or directory operation on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Kit(TestkitError::io(path, source))
    }

    /// A process that could not be started or controlled, for the operation `what`.
    pub fn process(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Kit(TestkitError::process(what, source))
    }

    /// A failure of the QUIC baseline while doing `what`.
    pub fn quic(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        LabError::Quic {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// Something that did not happen within `after`.
    pub fn timeout(what: impl Into<String>, after: Duration) -> Self {
        LabError::Kit(TestkitError::Timeout {
            what: what.into(),
            after,
        })
    }

    /// The process exit code the CLI uses for this error (130 for an interrupt, as shells do).
    pub fn exit_code(&self) -> i32 {
        match self {
            LabError::Kit(TestkitError::Interrupted) => 130,
            LabError::Usage(_) => 2,
            LabError::Privilege { .. } => 77,
            _ => 1,
        }
    }
}

/// Results of the lab.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
