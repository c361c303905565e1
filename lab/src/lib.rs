//! # trickles-lab: the lab that runs real trickles processes
//!
//! The lab is part of the product (DESIGN.md, decision 9). It drives `trickles-server` and
//! `trickles-client` as **separate processes** over real sockets, never by linking them, and
//! turns what they do into reports, CSV files and plots:
//!
//! ```text
//! trickles-lab demo                          # loopback, no root: client → mirror → balancer →
//!                                            # 3 replicas, the serving one killed and replaced
//! trickles-lab chain --clients 50            # client → mirror → balancer → 3 replicas, kills
//! trickles-lab bench transfer --size 256MiB  # Trickles vs kernel TCP goodput, same client
//! trickles-lab bench rss --clients 10,2000   # server RSS against the number of clients
//! ```
//!
//! Everything binds to loopback (127.0.0.1 or ::1), is bounded in time, and kills every child
//! it started on exit, on error and on Ctrl-C ([`children`], [`interrupt`]).
//!
//! ## Map of the crate
//! - processes: [`binaries`] (find or build the executables), [`children`] (the kill-on-drop
//!   guard), [`server_process`], [`client_process`] and [`client_stats`] (the client's
//!   `--stats-json`), [`balancer_process`] (`trickles-balancer`), [`mirror_process`]
//!   (`trickles-mirror`), [`tunnel_process`] and [`tunnel_binary`] (`trickles-mirror-tunnel`),
//!   [`replica_pool`] (the replicas and their front end), [`alternating_relay`] (per-packet
//!   alternation between replicas), [`fixture`] (key, served files, logs);
//! - anycast: [`anycast`] (sites announcing one address through BIRD and `trickles-anycast`, a
//!   router following them: the stage of `trickles-lab exp anycast`);
//! - scenarios: [`failover`] (kill and replace a replica under a running client), [`demo`]
//!   (and its [`demo_report`]),
//!   [`chain`] (client → mirror → balancer → replicas under random kills),
//!   [`bench_transfer`], [`bench_rss`];
//! - measurements and output: [`delivery_trace`], [`balancer_watch`] (what the balancer did),
//!   [`rss`], [`plot`], [`byte_size`];
//! - small pieces: [`ports`], [`http_probe`], [`test_file`], [`interrupt`], [`error`].
//!
//! The integration tests in `tests/` use the same pieces against debug builds.

pub mod anycast;
pub mod bench_rss;
pub mod bench_transfer;
pub mod binaries;
pub mod byte_size;
pub mod chain;
pub mod children;
pub mod demo;
pub mod demo_report;
pub mod error;
pub mod experiments;
pub mod fixture;
pub mod http_probe;
pub mod interrupt;
pub mod measure;
pub mod plot;
pub mod pool;
pub mod ports;
pub mod rss;
pub mod schedule;
pub mod service;
pub mod test_file;
pub mod topology;

pub use error::{LabError, Result};
