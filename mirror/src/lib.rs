//! # trickles-mirror: a stateless packet mirror with WAN emulation
//!
//! The Trickles paper sent its traffic out to packet mirrors on PlanetLab and back, so that a
//! client and a server at home saw a real wide-area path. This crate is that mirror. It keeps
//! no per-flow table: where a datagram goes is written in the datagram (an encapsulation
//! header naming the far end, `trickles_netfn::encap`) and whom it may serve is written in the
//! configuration.
//!
//! Map of the crate:
//! - [`mirror`]: the sans-IO mirror — datagram and time in, decisions and due datagrams out;
//! - [`wan`]: WAN emulation as a pure function of time — per-direction delay, jitter, random
//!   and bursty loss, duplication, reordering and rate, and the release queue;
//! - [`auth`]: configured peers, recognised by address and/or a shared-key tag;
//! - [`guard`]: per-source rate limits and the never-more-out-than-in byte budget;
//! - [`config`]: the YAML file ([`MirrorConfigFile`], which the lab also writes), validated
//!   into [`MirrorSettings`]: the [`MirrorRules`] and the datapath settings;
//! - [`rules`], [`reject`], [`counters`]: the rules in force, the names of refusals and
//!   emulated drops, the counts;
//! - [`datapath`], [`metrics`]: the UDP worker threads and the Prometheus metrics;
//! - [`cli`], [`service`]: the command line and the process (reloads, signals);
//! - [`xdp`]: the XDP datapath (the same decision on the frame, for paths without emulation);
//! - [`tunnel`]: the TUN endpoint that carries ordinary IP traffic (the TCP baseline) through
//!   the mirror.

pub mod auth;
pub mod cli;
pub mod config;
pub mod counters;
pub mod datapath;
pub mod guard;
pub mod metrics;
pub mod mirror;
pub mod reject;
pub mod rules;
pub mod service;
pub mod tunnel;
pub mod wan;
pub mod xdp;

pub use config::{MirrorConfigFile, MirrorSettings};
pub use counters::MirrorCounters;
pub use mirror::{Fate, Mirror, Released};
pub use reject::{EmulatedDrop, Reject};
pub use rules::MirrorRules;
/// The end-host codec (wrap for the mirror, unwrap what it delivers) is netfn's, so that end
/// hosts need not link the mirror.
pub use trickles_netfn::mirror_shim::{MirrorRoute, ShimError};
