//! # trickles-anycast: the anycast controller of a Trickles site
//!
//! Every site of an anycast service runs BIRD 2 (announcing the service prefixes to its BGP
//! peers) and one `trickles-anycast`. The controller health-checks what the site serves (a
//! Trickles HELLO to the balancer's VIP and/or the replicas, with interval, timeout, rise and
//! fall) and has BIRD announce the prefixes while the site is healthy and withdraw them when it
//! is not, by enabling and disabling protocols the operator's BIRD configuration names. It
//! never edits kernel routes. Because any Trickles replica resumes any continuation, the route
//! may move to another site in the middle of a transfer and the transfer goes on.
//!
//! **No black hole when the controller dies or hangs.** BIRD's static routes for the prefixes
//! point at a next hop guarded by BFD (`route 198.18.0.10/32 via 198.18.255.2%anycast-bird bfd`),
//! and the controller answers BFD at that next hop ([`bfd`]) only while its decision loop runs
//! and the site is healthy. SIGKILL or SIGSTOP stops the answers; BIRD's BFD declares the
//! session down after `multiplier × interval` (3 × 100 ms by default) and the routes, and so
//! the BGP announcement, lapse without the controller. `docs/ANYCAST.md` has the BIRD side.
//!
//! ## Usage
//!
//! ```text
//! trickles-anycast --config anycast.yaml            # run; SIGHUP reloads, SIGUSR1 re-checks
//! trickles-anycast --config anycast.yaml --check    # validate and exit
//! trickles-anycast --config anycast.yaml drain      # withdraw, wait, "safe to stop"
//! ```
//!
//! ## Map of the crate
//! - [`config`], [`prefix`]: the YAML file, validated with `file:line: reason` errors;
//! - [`decision`]: the pure decisions (want, action, cause), tested without BIRD;
//! - [`bird`]: BIRD's control socket ([`bird::BirdClient`], replies, `show protocols`);
//! - [`bfd`]: the BFD responder (packet, session state machine, lease gate, thread);
//! - [`controller`]: the decision loop; [`service`]: start, signals, reload, stop;
//! - [`metrics`] (`trickles_anycast_*`), [`state_file`], [`drain`], [`cli`], [`error`].

pub mod bfd;
pub mod bird;
pub mod cli;
pub mod config;
pub mod controller;
pub mod decision;
pub mod drain;
pub mod error;
pub mod metrics;
pub mod prefix;
pub mod service;
pub mod state_file;

pub use error::AnycastError;
