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
//! trickles-lab bench transfer --size 256MiB  # Trickles vs kernel TCP and QUIC (quinn) goodput
//! trickles-lab bench rss --clients 10,2000   # server RSS against the number of clients
//! ```
//!
//! Everything binds to loopback (127.0.0.1 or ::1), is bounded in time, and kills every child
//! it started on exit, on error and on Ctrl-C ([`children`], [`interrupt`]).
//!
//! ## Map of the crate (docs/LAB.md explains how the pieces fit)
//! - where: [`topology`] (a loopback or namespace [`topology::Topology`] of
//!   [`topology::Host`]s: links shaped, cut, hosts crashed and booted);
//! - what runs: [`service`] (any program as a [`service::Service`], its configuration written
//!   from the program's own config type; the client and its statistics), [`binaries`] (find or
//!   build them), [`children`] (the kill-on-drop guard), [`fixture`] (key, served files, logs);
//! - anycast: [`anycast`] (sites announcing one address through BIRD and `trickles-anycast`, a
//!   router following them: the stage of `trickles-lab exp anycast`);
//! - what breaks: [`schedule`] (failure schedules as data, applied to a
//!   [`schedule::Stage`]);
//! - the service under test: [`pool`] (replicas and their front end on a topology, the serving
//!   reader, the failover scenario);
//! - what is measured: [`measure`] (delivery traces, a transfer under a schedule, recovery),
//!   [`rss`], [`cpu`], [`plot`], [`dashboard_render`] (a Grafana dashboard drawn from Prometheus);
//! - scenarios: [`demo`] (and its [`demo_report`]), [`chain`], [`bench_transfer`] (with its
//!   QUIC baseline, [`quic`]),
//!   [`bench_rss`], [`experiments`] (`trickles-lab exp …`);
//! - small pieces: [`ports`], [`http_probe`], [`test_file`], [`byte_size`], [`interrupt`],
//!   [`error`].
//!
//! The integration tests in `tests/it/` use the same pieces against debug builds.

pub mod anycast;
pub mod bench_rss;
pub mod bench_transfer;
pub mod binaries;
pub mod byte_size;
pub mod chain;
pub mod cpu;
pub mod dashboard_render;
pub mod demo;
pub mod demo_report;
pub mod error;
pub mod experiments;
pub mod fixture;
pub mod http_probe;
pub mod measure;
pub mod observe;
pub mod plot;
pub mod pool;
pub mod ports;
pub mod quic;
pub mod rss;
pub mod schedule;
pub mod service;
pub mod test_file;
pub mod topology;

pub use error::{LabError, Result};
/// Ctrl-C: a flag every waiting loop polls, shared with the tests' guards.
pub use trickles_testkit::interrupt;
/// The kill-on-drop child process guard, shared with every crate's tests.
pub use trickles_testkit::process as children;
