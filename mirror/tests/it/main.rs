//! The mirror's integration tests, one binary (each module was a test file of its own): the
//! `trickles-mirror` executable, its configuration, its decisions (with proptest), the
//! datapath on loopback, a Trickles transfer through it, and TCP through tunnel endpoints.

mod binary;
mod config;
mod decisions;
mod largest_hello;
mod loopback;
mod trickles_transfer;
mod tunnel;
mod xdp_datapath;
mod xdp_fixtures;
