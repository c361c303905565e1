//! [`fetch_through_failover`]: one client transfer from a [`Pool`] while a failure schedule
//! runs, and what it did to the transfer: the one failover scenario of the lab (the demo,
//! `exp failover`, `exp pool` and the tests are this with other pools and schedules).
//!
//! The schedule's first step is the failure (kill, crash, cut); the second, if any, the repair
//! (restart, boot, restore). The same client process must finish; its output is checked
//! against the served file's SHA-256, the delivery trace read for the stall and the recovery
//! ([`crate::measure::recovery`]), and the pool's watch for which replica took over and when the
//! balancer's table changed.

use std::time::Duration;

use super::Pool;
use crate::binaries::Binaries;
use crate::error::Result;
use crate::measure::recovery::{analyse, Recovery, RECOVERY_RULE};
use crate::measure::transfer::{run_transfer, Transfer};
use crate::schedule::FailureSchedule;
use crate::service::client::ClientSpec;
use crate::topology::Host;

/// What a failover did.
#[derive(Clone, Debug)]
pub struct FailoverRun {
    /// The client's statistics and delivery trace (with every event).
    pub transfer: Transfer,
    /// The replica the failure hit, when it hit one.
    pub victim: Option<usize>,
    /// Seconds after the client's start when the failure happened.
    pub failed_at: f64,
    /// Seconds after the client's start when the repair was done (a restarted replica ready).
    pub repaired_at: Option<f64>,
    /// The recovery read off the trace.
    pub recovery: Recovery,
    /// When the balancer's table was read without the victim (if there is a balancer).
    pub left_table_at: Option<f64>,
    /// When it was read with the victim again.
    pub rejoined_table_at: Option<f64>,
    /// The replica serving between the failure and the repair (or the end).
    pub took_over: Option<usize>,
    /// The replica serving at the end.
    pub finished_on: Option<usize>,
    /// SHA-256 of the client's output file.
    pub output_sha256: String,
    /// Whether the output and the client's digest are the served file's.
    pub byte_exact: bool,
}

/// Runs `client` in `client_host` against `pool` while `schedule` runs, at most `limit`;
/// `expected_sha256` is the served file's. The client's output is deleted once found
/// byte-exact (kept otherwise, for a comparison).
pub fn fetch_through_failover(
    binaries: &Binaries,
    pool: &mut Pool<'_>,
    client_host: &Host,
    client: ClientSpec,
    schedule: &FailureSchedule,
    limit: Duration,
    expected_sha256: &str,
) -> Result<FailoverRun> {
    let output = client.output.clone();
    let mut transfer = run_transfer(binaries, client_host, client, limit, schedule, pool)?;
    // Without a schedule (a plain transfer), the "failure" is the start.
    let failed_at = match schedule.steps.is_empty() {
        true => 0.0,
        false => transfer.step_time(0)?,
    };
    let repaired_at = transfer.fired.get(1).copied().flatten();
    let recovery = analyse(&transfer.trace, failed_at, RECOVERY_RULE);
    if let Some((_, resumed)) = recovery.longest_stall {
        transfer.trace.event(resumed, "deliveries resumed");
    }
    let (output_sha256, byte_exact) = transfer.check_output(output.as_deref(), expected_sha256)?;
    let victim = pool.victim();
    let watch = pool.watch();
    let end = transfer.stats.seconds;
    Ok(FailoverRun {
        victim,
        failed_at,
        repaired_at,
        left_table_at: victim.and_then(|v| watch.table_change(v, false, failed_at)),
        rejoined_table_at: victim.and_then(|v| watch.table_change(v, true, failed_at)),
        took_over: watch.serving_at(repaired_at.unwrap_or(end)),
        finished_on: watch.serving(),
        recovery,
        transfer,
        output_sha256,
        byte_exact,
    })
}
