//! [`ObserveError`]: why a dashboard, a rule file, promtool or Prometheus could not be used.

use std::path::PathBuf;

/// The crate's error.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A dashboard is not JSON, or not shaped as a dashboard.
    #[error("{path}: {reason}")]
    Dashboard {
        /// The dashboard file.
        path: PathBuf,
        /// What is wrong, with the JSON line when known.
        reason: String,
    },
    /// A rule file is not YAML, or not shaped as Prometheus rule groups.
    #[error("{path}: {reason}")]
    Rules {
        /// The rule file.
        path: PathBuf,
        /// What is wrong, with the YAML line when known.
        reason: String,
    },
    /// A program the checks need is not installed.
    #[error("`{program}` not found: {hint}")]
    MissingProgram {
        /// Its name.
        program: &'static str,
        /// How to install it.
        hint: &'static str,
    },
    /// A program ran and failed.
    #[error("{program} failed: {output}")]
    ProgramFailed {
        /// The command line.
        program: String,
        /// What it printed.
        output: String,
    },
    /// Prometheus did not start or did not answer.
    #[error("prometheus: {0}")]
    Prometheus(String),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, ObserveError>;
