//! `trickles-lab exp ...`: the experiments of the Trickles paper, Trickles against kernel TCP on
//! the same namespace testbed in the same run ([`crate::testbed`]), each writing a CSV, a PNG
//! and an SVG into the results directory and printing a short table. They need root.
//!
//! Shared pieces: [`context`] (root check, binaries, fixture, server start, URLs),
//! [`results_table`] (table and CSV), [`xy_plot`] (figures).

pub mod command;
pub mod context;
pub mod dumbbell;
pub mod memory;
pub mod results_table;
pub mod socket_memory;
pub mod throughput;
pub mod xy_plot;
