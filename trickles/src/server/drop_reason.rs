//! Why the server dropped a datagram; each reason is a metric label.

/// Why a datagram was dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// Not parseable.
    #[error("malformed packet")]
    Malformed,
    /// A protocol version we do not speak.
    #[error("unsupported version")]
    Version,
    /// A packet type a server never receives.
    #[error("unexpected packet type")]
    UnexpectedType,
    /// Continuation sealed under an unknown key epoch.
    #[error("unknown key epoch")]
    Epoch,
    /// Continuation MAC does not verify (forged, altered, other client address).
    #[error("bad continuation MAC")]
    Mac,
    /// Continuation older than the freshness limit, or from the future.
    #[error("stale continuation")]
    Stale,
    /// Continuation already used.
    #[error("replayed continuation")]
    Replay,
    /// Proof of receipt invalid (wrong nonce, does not reach TCPBase).
    #[error("invalid proof of receipt")]
    Proof,
    /// Slow-start restart earlier than the enforced backoff allows.
    #[error("restart too early")]
    TooEarly,
    /// The step would exceed its packet or gap bounds.
    #[error("window bound exceeded")]
    Window,
    /// The application failed to produce the data.
    #[error("application error")]
    App,
    /// A HELLO too small to answer within the amplification limit.
    #[error("hello too small")]
    HelloTooSmall,
    /// The application is preparing the answer off the datapath ([`crate::app::AppError::Busy`]).
    #[error("application busy")]
    Busy,
}

impl DropReason {
    /// Every reason, for pre-registering metric labels.
    pub const ALL: [DropReason; 13] = [
        DropReason::Malformed,
        DropReason::Version,
        DropReason::UnexpectedType,
        DropReason::Epoch,
        DropReason::Mac,
        DropReason::Stale,
        DropReason::Replay,
        DropReason::Proof,
        DropReason::TooEarly,
        DropReason::Window,
        DropReason::App,
        DropReason::HelloTooSmall,
        DropReason::Busy,
    ];

    /// Short snake_case name (metric label value).
    pub fn name(&self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Version => "version",
            DropReason::UnexpectedType => "unexpected_type",
            DropReason::Epoch => "epoch",
            DropReason::Mac => "mac",
            DropReason::Stale => "stale",
            DropReason::Replay => "replay",
            DropReason::Proof => "proof",
            DropReason::TooEarly => "too_early",
            DropReason::Window => "window",
            DropReason::App => "app",
            DropReason::HelloTooSmall => "hello_too_small",
            DropReason::Busy => "busy",
        }
    }
}
