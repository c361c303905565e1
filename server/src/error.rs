//! The one error type of `trickles-server`: every way starting, configuring or reloading the
//! server can fail, each variant naming the file (if any) and the cause so the CLI can print it
//! for a human as is.

use std::path::PathBuf;

use trickles_netfn::NetfnError;

/// Why the server could not load its configuration or keys, or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The pool key file (`--pool-key`) cannot be read or is not `id:` and `secret:`.
    #[error(transparent)]
    PoolKey(#[from] trickles_netfn::hop_auth::PoolKeyError),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The configuration file is not valid YAML or does not match the schema.
    #[error("{}:{line}:{column}: {reason}", path.display())]
    ConfigSyntax {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line of the error (0 if unknown).
        line: usize,
        /// 1-based column of the error (0 if unknown).
        column: usize,
        /// What is wrong there.
        reason: String,
    },

    /// The configuration parses but makes no sense (missing root, no listener, ...).
    /// `path` is the configuration file, or `<command line>` when flags alone are at fault.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    ConfigInvalid {
        /// Where the setting came from.
        path: PathBuf,
        /// 1-based line of the offending key when it is in the file.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },

    /// The key file is malformed (bad hex, wrong length, no key, duplicate epoch, ...).
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A listen address is served by another process and sharing was not asked for.
    #[error(
        "cannot bind {addr}: address in use by another process; stop it, choose another \
         address, or pass --share-port (`share_port: true`) to serve it together"
    )]
    AddressInUse {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },

    /// A socket could not be created, configured or bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// A direct-return VIP could not be bound; `hint` says what to do about the usual causes
    /// (not on a local interface, taken by another process).
    #[error("cannot bind the direct-return VIP {addr}: {source}{hint}")]
    DirectReturnVip {
        /// The VIP:PORT.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
        /// What to do, starting with "; " (empty when there is no advice).
        hint: String,
    },

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

impl ServerError {
    /// An [`ServerError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`ServerError::KeyFile`] for `path`.
    pub fn key_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ServerError::KeyFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<NetfnError> for ServerError {
    /// The shared runtime's errors (binding, threads, configuration, metrics) as the server's
    /// own, so that the CLI prints them the same way whichever part failed.
    fn from(error: NetfnError) -> Self {
        match error {
            NetfnError::Bind { addr, source } => ServerError::Bind { addr, source },
            NetfnError::AddressInUse { addr, .. } => ServerError::AddressInUse { addr },
            NetfnError::Runtime { what, source } => ServerError::Runtime { what, source },
            NetfnError::Metrics(error) => ServerError::Metrics(error),
            NetfnError::Config(error) => ServerError::ConfigInvalid {
                path: error.path,
                line: error.line,
                reason: error.reason,
            },
        }
    }
}
