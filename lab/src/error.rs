//! [`LabError`]: everything that can stop a lab run, named by its cause and printed for humans.

use std::path::PathBuf;
use std::time::Duration;

/// Why a lab run (demo, benchmark, test fixture) failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A child process could not be started or controlled.
    #[error("{what}: {source}")]
    Process {
        /// The process and the operation, e.g. "starting trickles-server".
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
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
    /// A child process exited unsuccessfully or before it should have.
    #[error("{name} failed ({status}); last lines of {log}:\n{tail}")]
    ChildFailed {
        /// The child's role, e.g. "trickles-client".
        name: String,
        /// Its exit status, as printed by the OS.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// Something did not happen within its time bound.
    #[error("timed out after {:.1} s waiting for {what}", .after.as_secs_f64())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the lab waited.
        after: Duration,
    },
    /// The run was interrupted (SIGINT/SIGTERM); every child has been killed.
    #[error("interrupted")]
    Interrupted,
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
    /// An [`LabError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`LabError::Process`] for the operation `what`.
    pub fn process(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Process {
            what: what.into(),
            source,
        }
    }

    /// The process exit code the CLI uses for this error (130 for an interrupt, as shells do).
    pub fn exit_code(&self) -> i32 {
        match self {
            LabError::Interrupted => 130,
            LabError::Usage(_) => 2,
            LabError::Privilege { .. } => 77,
            _ => 1,
        }
    }
}

/// The shared process, namespace and interrupt guards (`trickles-testkit`) fail with the same
/// causes the lab names.
impl From<trickles_testkit::TestkitError> for LabError {
    fn from(error: trickles_testkit::TestkitError) -> Self {
        use trickles_testkit::TestkitError as Kit;
        match error {
            Kit::Io { path, source } => LabError::Io { path, source },
            Kit::Process { what, source } => LabError::Process { what, source },
            Kit::ChildFailed {
                name,
                status,
                log,
                tail,
            } => LabError::ChildFailed {
                name,
                status,
                log,
                tail,
            },
            Kit::Timeout { what, after } => LabError::Timeout { what, after },
            Kit::Interrupted => LabError::Interrupted,
            Kit::Command { command, reason } => LabError::Testbed { command, reason },
            other @ Kit::MissingBinary { .. } => LabError::Usage(other.to_string()),
        }
    }
}

/// Results of the lab.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
