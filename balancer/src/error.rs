//! The one error type of `trickles-balancer`: every way starting or configuring the balancer
//! can fail, printable for a human as is.

use trickles_netfn::{ConfigError, NetfnError};

use crate::core::MaglevError;
use crate::xdp::XdpError;

/// Why the balancer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BalancerError {
    /// The configuration file is unreadable or invalid (file, line, reason).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A socket, thread or endpoint of the shared crate could not be set up.
    #[error(transparent)]
    Netfn(#[from] NetfnError),
    /// The forwarding table cannot be built (configuration validation prevents it).
    #[error("forwarding table: {0}")]
    Table(#[from] MaglevError),
    /// The metrics registry refused a metric (a programming error).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `datapath: xdp` and the XDP datapath cannot run (`auto` falls back instead).
    #[error("XDP datapath: {0}")]
    Xdp(#[from] XdpError),
    /// The process could not set up part of its runtime.
    #[error("cannot set up {what}: {source}")]
    Runtime {
        /// What was being set up.
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}
