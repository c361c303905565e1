//! The one error type of `trickles-netfn`: binding sockets, loading configuration, starting the
//! metrics endpoint. Each variant names the cause so a binary can print it for a human as is.

use std::net::SocketAddr;

use crate::config::ConfigError;

/// Why a shared piece of a network function could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetfnError {
    /// A socket could not be created, configured or bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The address is already served by another process (or another socket outside this
    /// group) and sharing was not asked for.
    #[error("cannot bind {addr}: address in use by another process; stop it or choose another address{hint}")]
    AddressInUse {
        /// The address asked for.
        addr: SocketAddr,
        /// How the binary asks for sharing, as the end of the sentence (", or pass
        /// --share-port to serve it together"), or empty.
        hint: &'static str,
    },

    /// The configuration file could not be read or is invalid (with file and line).
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The process could not set up part of its runtime (threads, signal handlers, ...).
    #[error("cannot set up {what}: {source}")]
    Runtime {
        /// What was being set up.
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The metrics registry refused a metric (a programming error: duplicate name, bad label).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
