//! `trickles-lab exp ...`: the experiments of the Trickles paper, Trickles against kernel TCP on
//! the same namespace testbed in the same run ([`crate::topology`]), each writing a CSV, a PNG
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
//! round-trip time), [`anycast`] (the route to an anycast service moves mid-transfer).

pub mod anycast;
pub mod anycast_clients;
pub mod anycast_table;
pub mod checked_wait;
pub mod command;
pub mod context;
pub mod dumbbell;
pub mod failover;
pub mod flow_meter;
pub mod friendliness;
pub mod jain_index;
pub mod memory;
pub mod mirrored_testbed;
pub mod path_counters;
pub mod pool;
pub mod repeat_summary;
pub mod report;
pub mod results_table;
pub mod socket_memory;
pub mod tcp_congestion;
pub mod throughput;
pub mod wan;
pub mod xy_plot;

use crate::error::{LabError, Result};

/// The flags of a kill-during-a-transfer experiment (failover, pool): the rate, the kill time
/// and the limit positive, and the transfer long enough at the bottleneck's rate to be running
/// at the kill.
pub fn check_kill_schedule(
    rate_mbit: f64,
    size: u64,
    kill_at: f64,
    transfer_limit: f64,
) -> Result<()> {
    let positive = |value: f64| value.is_finite() && value > 0.0;
    if !positive(rate_mbit) || !positive(kill_at) || !positive(transfer_limit) {
        return Err(LabError::Usage(
            "--rate-mbit, --kill-at and --transfer-limit must be positive".to_owned(),
        ));
    }
    let full_rate_seconds = size as f64 * 8.0 / (rate_mbit * 1e6);
    if full_rate_seconds <= kill_at {
        return Err(LabError::Usage(format!(
            "at {rate_mbit} Mbit/s the {size} bytes take {full_rate_seconds:.1} s, not past the \
             kill at {kill_at} s: raise --size or lower --rate-mbit"
        )));
    }
    Ok(())
}
