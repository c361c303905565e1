//! [`XdpError`]: why the XDP datapath cannot run (the reason `datapath: auto` logs before it
//! falls back to the userspace datapath).

/// Why the XDP datapath is unavailable or failed.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The binary was built without clang: it carries no XDP object.
    #[error("this binary carries no XDP program (clang was missing when it was built)")]
    NotBuilt,
    /// The process lacks the capabilities to load or attach programs.
    #[error("missing capabilities: {0}")]
    Privileges(String),
    /// The configuration asks for something the XDP datapath does not do.
    #[error("not supported by the XDP datapath: {0}")]
    Unsupported(String),
    /// No interface to attach to.
    #[error("datapath xdp needs xdp_interfaces: the devices the VIP traffic arrives on")]
    NoInterface,
    /// The object could not be loaded (parse, map creation).
    #[error("cannot load the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program could not be loaded (verifier), attached or run.
    #[error("XDP program {what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// aya's reason.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map could not be read or written.
    #[error("XDP map {what}: {source}")]
    Map {
        /// Which map, doing what.
        what: String,
        /// aya's reason.
        #[source]
        source: aya::maps::MapError,
    },
}

impl XdpError {
    /// `map_err` adapter: a program error while doing `what`.
    pub fn program(what: impl Into<String>) -> impl FnOnce(aya::programs::ProgramError) -> Self {
        let what = what.into();
        move |source| XdpError::Program { what, source }
    }

    /// `map_err` adapter: a map error while doing `what`.
    pub fn map(what: impl Into<String>) -> impl FnOnce(aya::maps::MapError) -> Self {
        let what = what.into();
        move |source| XdpError::Map { what, source }
    }
}
