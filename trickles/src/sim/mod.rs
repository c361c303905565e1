//! A deterministic network simulator for testing the protocol end to end.
//!
//! The clock is a number ([`Instant`](crate::time::Instant), microseconds) advanced by an
//! event queue, every random choice comes from a `ChaCha8Rng` derived from one `u64` seed, and
//! nothing depends on threads, wall-clock time or hash-map order: the same seed and the same
//! setup give the same run, event for event (compare [`Network::trace_digest`]).
//!
//! Pieces, from the bottom up:
//! - [`event_queue`]: timed events in (time, insertion order) order;
//! - [`loss`]: independent and Gilbert–Elliott bursty loss;
//! - [`link`]: one direction of a path — delay, jitter, rate and tail-drop queue, loss,
//!   reordering, duplication — with counters;
//! - [`service`]: a service address in front of a replica pool (fixed, round-robin or random
//!   replica per packet);
//! - [`node`]: the [`Node`] trait every simulated endpoint implements;
//! - [`network`]: nodes addressed by `SocketAddr`, routing, crashes and restarts, the run loop;
//! - [`trace`]: the digest and optional record of everything that happened.

pub mod event_queue;
pub mod link;
pub mod loss;
pub mod network;
pub mod node;
pub mod service;
pub mod trace;

#[cfg(test)]
mod tests;

pub use event_queue::EventQueue;
pub use link::{Link, LinkConfig, LinkDropCause, LinkOutcome, LinkStats};
pub use loss::GilbertElliott;
pub use network::{Network, NetworkStats, SimError};
pub use node::Node;
pub use service::{ReplicaPolicy, ServiceConfig};
pub use trace::{NetworkDropCause, TraceEvent, TraceRecord};
