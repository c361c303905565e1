//! A deterministic network simulator for testing the protocol end to end.
//!
//! The clock is a number ([`Instant`](crate::time::Instant), microseconds) advanced by an
//! event queue, every random choice comes from a `ChaCha8Rng` derived from one `u64` seed, and
//! nothing depends on threads, wall-clock time or hash-map order: the same seed and the same
//! setup give the same run, event for event (compare [`Network::trace_digest`]).
//!
//! Pieces, from the bottom up:
//! - the path model, from `trickles-link` (shared with the packet mirror's WAN emulation):
//!   [`Link`], one direction of a path — delay, jitter, rate and tail-drop queue, loss,
//!   reordering, duplication — with counters, and [`GilbertElliott`] bursty loss;
//! - [`event_queue`]: timed events in (time, insertion order) order;
//! - [`service`]: a service address in front of a replica pool (fixed, round-robin or random
//!   replica per packet);
//! - [`node`]: the [`Node`] trait every simulated endpoint implements;
//! - [`network`]: nodes addressed by `SocketAddr`, routing, crashes and restarts, the run loop;
//! - [`trace`]: the digest and optional record of everything that happened.
//!
//! On top of it, the protocol adapters and end-to-end scenarios:
//! - [`server_node`] / [`client_node`]: a `ServerEndpoint` and a `ClientConnection` as nodes;
//! - [`scenario`]: one client fetching one object from a replica pool, checked byte for byte,
//!   with [`Scenario::from_seed`] drawing conditions from a seed ([`scenario_seeded`]) and
//!   [`ScenarioOutcome`] reporting the result;
//! - [`describe`]: one-line descriptions of datagrams for recorded traces;
//! - [`bottleneck`]: one download through a drop-tail bottleneck, with its utilisation of the
//!   link against the per-packet overhead bound, timeouts and stalls.

pub mod bottleneck;
pub mod client_node;
pub mod describe;
pub mod event_queue;
pub mod network;
pub mod node;
pub mod scenario;
pub mod scenario_outcome;
pub mod scenario_seeded;
pub mod server_node;
pub mod service;
pub mod trace;

#[cfg(test)]
mod tests;

pub use bottleneck::{Bottleneck, BottleneckReport};
pub use client_node::{ClientNode, Progress};
pub use event_queue::EventQueue;
pub use network::{Network, NetworkStats, SimError};
pub use node::Node;
pub use scenario::{ReplicaCrash, Scenario};
pub use scenario_outcome::ScenarioOutcome;
pub use server_node::{ServerNode, ServerNodeStats};
pub use service::{ReplicaPolicy, ServiceConfig};
pub use trace::{NetworkDropCause, TraceEvent, TraceRecord};
pub use trickles_link::{GilbertElliott, Link, LinkConfig, LinkDropCause, LinkOutcome, LinkStats};
