//! The one error type of `trickles-anycast`: every way starting, configuring or talking to BIRD
//! can fail, printable for a human as is.

use trickles_netfn::{ConfigError, NetfnError};

use crate::bird::BirdError;

/// Why the controller could not start or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AnycastError {
    /// The configuration file is unreadable or invalid (file, line, reason).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// BIRD's control socket could not be used or answered something unusable.
    #[error(transparent)]
    Bird(#[from] BirdError),
    /// The metrics endpoint could not be set up.
    #[error(transparent)]
    Netfn(#[from] NetfnError),
    /// The metrics registry refused a metric (a programming error).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The state file cannot be read or written, or names no running controller.
    #[error("state file {path}: {reason}")]
    StateFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The process could not set up part of its runtime (a socket, a signal handler, a thread).
    #[error("cannot set up {what}: {source}")]
    Runtime {
        /// What was being set up.
        what: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}
