//! The XDP datapath: `bpf/balancer.c` makes the decision of [`crate::core::decide`] on the
//! frame, in the driver, before the kernel allocates anything for it; this module loads it,
//! writes its maps from the [`crate::core::ForwardingTable`] the control plane publishes, and
//! turns its per-CPU counters into the userspace datapath's metrics. `docs/XDP.md` describes
//! the design, how to run it and what it measures.
//!
//! - [`abi`]: the constants and map layouts shared with the C program (`bpf/balancer_abi.h`,
//!   checked by a test);
//! - [`object`]: the compiled object, embedded;
//! - [`program`]: [`XdpBalancer`]: load, VIPs, gateway, attach, read counters;
//! - [`publish`]: a forwarding table into the maps (two generations, flipped);
//! - [`test_run`]: a program run on a frame (once, or live for the benchmarks);
//! - [`counters`]: counters → `trickles_balancer_*` metrics;
//! - [`runner`]: [`runner::XdpDatapath`], attached in front of the userspace datapath and fed
//!   by the control plane's tables;
//! - [`mapped_slots`], [`privileges`], [`settings`], [`error`]: re-exported from
//!   `trickles-xdp`, which the mirror's XDP datapath shares.

pub mod abi;
pub mod counters;
pub mod object;
pub mod program;
pub mod publish;
pub mod runner;
pub mod test_run;

pub use program::XdpBalancer;
pub use test_run::{action, TestRunOutcome};
pub use trickles_xdp::{error, mapped_slots, privileges, settings, XdpError};
