//! The sans-IO core of the balancer: every decision as a pure function or a small state
//! machine, tested without sockets, clocks or threads.
//!
//! - [`constants`]: where the key is, how it is mixed (shared with any other datapath);
//! - [`conn_hash`]: [`ConnHashKey`], the secret keying the connection-id hash;
//! - [`maglev`]: [`MaglevTable`] (prime size, weights, deterministic from the configuration);
//! - [`spray`]: [`Spray`], per-packet round robin and least loaded;
//! - [`health`]: [`HealthState`] with rise/fall hysteresis;
//! - [`table`]: [`ForwardingTable`], the immutable snapshot a worker decides with;
//! - [`decision`]: [`decide`], the per-datagram verdict.

pub mod conn_hash;
pub mod constants;
pub mod decision;
pub mod health;
pub mod maglev;
pub mod spray;
pub mod table;

pub use conn_hash::ConnHashKey;
pub use decision::{decide, decide_at, DropReason, HopClock, Verdict};
pub use health::{HealthState, HealthThresholds, ProbeOutcome, Transition};
pub use maglev::{MaglevBackend, MaglevError, MaglevTable};
pub use spray::Spray;
pub use table::{ForwardingMode, ForwardingTable, Policy, TableBackend};
