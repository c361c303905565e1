//! The stateless Trickles server: "continuation in, packets out".
//!
//! [`ServerEndpoint::handle_datagram`] is the whole server. For a `HELLO` it asks the
//! [`Application`](crate::app::Application) to open the request and sends the initial window
//! (bounded by the 3× anti-amplification rule); for a `REQUEST` it opens the continuation
//! ([`seal`]), checks freshness, the proof of receipt ([`proof`]) and the replay filter, runs the
//! congestion step ([`step`]) and builds the released packets ([`response_builder`]). The only
//! memory it keeps is bounded soft state: the replay filter and the RNG for connection tokens.

pub mod config;
pub mod drop_reason;
pub mod endpoint;
pub mod proof;
pub mod response_builder;
pub mod seal;
pub mod step;
pub mod tokens;

pub use config::ServerConfig;
pub use drop_reason::DropReason;
pub use endpoint::{replay_filter_for, replay_generation, ServerEndpoint};
