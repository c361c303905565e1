//! `trickles-lab exp ...`: the experiments of the Trickles paper, Trickles against kernel TCP on
//! the same namespace testbed in the same run ([`crate::testbed`]), each writing a CSV, a PNG
//! and an SVG into the results directory and printing a short table. They need root.
//!
//! Shared pieces: [`context`] (root check, binaries, fixture, server start, URLs),
//! [`results_table`] (table and CSV), [`xy_plot`] (figures), [`tcp_congestion`] (kernel TCP's
//! algorithm in every namespace), [`timed_transfer`] and [`delivery_sampler`] (a transfer
//! sampled over time while the experiment acts on a clock), [`recovery`] (stall and recovery
//! times read off such a trace), [`backend_counters`] (which replica a balancer sent a
//! connection to); for the wide-area experiments the mirrored testbed ([`mirrored_testbed`]:
//! every packet through `trickles-mirror`, TCP through tunnel endpoints), its health counters
//! ([`path_counters`]), per-flow bytes over a window ([`flow_meter`]), [`jain_index`],
//! [`repeat_summary`] and [`checked_wait`].
//!
//! Experiments: [`memory`] (server memory against clients), [`throughput`] (aggregate
//! goodput against clients), [`failover`] (server killed and restarted, Trickles against TCP with range
//! resume), [`pool`] (a replica of a balanced pool killed mid-transfer), [`friendliness`] (one
//! flow against background TCP flows through the mirror), [`wan`] (throughput by emulated
//! round-trip time).

pub mod backend_counters;
pub mod checked_wait;
pub mod command;
pub mod context;
pub mod delivery_sampler;
pub mod dumbbell;
pub mod failover;
pub mod flow_meter;
pub mod friendliness;
pub mod jain_index;
pub mod memory;
pub mod mirrored_testbed;
pub mod path_counters;
pub mod pool;
pub mod recovery;
pub mod repeat_summary;
pub mod results_table;
pub mod socket_memory;
pub mod tcp_congestion;
pub mod throughput;
pub mod timed_transfer;
pub mod wan;
pub mod xy_plot;
