//! The client's one error type: every way a fetch can fail, named by its cause.
//!
//! The CLI prints these for humans (`error: <Display>`) and maps them to exit codes with
//! [`ClientError::exit_code`], so scripts can tell "not found" from "timed out" without
//! parsing text.

use std::io;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL could not be parsed or uses something we do not support.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The command line asks for something impossible (e.g. several bodies on stdout).
    #[error("{0}")]
    Usage(String),
    /// The host name did not resolve to any address.
    #[error("cannot resolve host {host:?}: {reason}")]
    Resolve {
        /// The name we tried to resolve.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The server has no such resource (HTTP 404, or a Trickles REFUSE saying not found).
    #[error("{url}: not found")]
    NotFound {
        /// The URL that was asked for.
        url: String,
    },
    /// The server refused the request for another reason.
    #[error("{url}: refused by the server: {reason}")]
    Refused {
        /// The URL that was asked for.
        url: String,
        /// The reason the server (or the core) gave.
        reason: String,
    },
    /// An HTTP server answered with a status other than 200/206/404.
    #[error("{url}: server answered HTTP {status}")]
    HttpStatus {
        /// The URL that was asked for.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Nothing new arrived for the whole idle timeout.
    #[error("{url}: timed out: no progress for {seconds} s ({received} bytes received)")]
    Timeout {
        /// The URL that was asked for.
        url: String,
        /// The idle timeout that expired, in seconds.
        seconds: f64,
        /// Body bytes delivered before the transfer stalled.
        received: u64,
    },
    /// Could not connect, or the connection broke (and was not, or could no longer be, resumed).
    #[error("{url}: connection failed: {reason}")]
    Connection {
        /// The URL that was asked for.
        url: String,
        /// What the OS or the HTTP library said.
        reason: String,
    },
    /// The transfer ended but its content does not add up (short body, wrong range...).
    #[error("{url}: bad transfer: {reason}")]
    Protocol {
        /// The URL that was asked for.
        url: String,
        /// What did not add up.
        reason: String,
    },
    /// Writing the body (or the stats) to the output failed.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
    /// The local socket could not be created or used.
    #[error("local socket: {0}")]
    Socket(#[source] io::Error),
}

impl ClientError {
    /// The process exit code the CLI uses for this error (all non-zero).
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::InvalidUrl { .. } | ClientError::Usage(_) => 2,
            ClientError::NotFound { .. } => 3,
            ClientError::Timeout { .. } => 4,
            ClientError::Resolve { .. } => 5,
            ClientError::Connection { .. } => 6,
            ClientError::Refused { .. }
            | ClientError::HttpStatus { .. }
            | ClientError::Protocol { .. }
            | ClientError::Output(_)
            | ClientError::Socket(_) => 1,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
