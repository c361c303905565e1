//! The mirror's XDP datapath: `bpf/mirror.c` makes the decision of [`crate::mirror::Mirror`]
//! for datagrams whose path is not WAN-emulated, on the frame; tagged datagrams and emulated
//! directions go up to the userspace datapath, which listens on the same addresses. Loaded and
//! driven with aya through `trickles-xdp`, which it shares with the balancer's (`docs/XDP.md`).
//!
//! - [`abi`]: the constants and layouts shared with the C program (`bpf/mirror_abi.h`, checked
//!   by a test);
//! - [`program`]: [`XdpMirror`]: load, listen addresses, publish the rules, attach, test-run,
//!   read counters;
//! - [`runner`]: [`runner::XdpMirrorDatapath`], attached in front of the userspace datapath and
//!   following the published rules.

pub mod abi;
pub mod program;
pub mod runner;

pub use program::{XdpMirror, XdpMirrorCounters};
