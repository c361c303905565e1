//! The failover scenario: one client fetches a file from a [`ReplicaPool`]; when it has
//! `kill_at_bytes`, a replica is SIGKILLed; after `restart_after` (if any) a new process takes
//! the same key and address; the *same* client process must finish. The client's delivery is sampled
//! throughout (the size of its output file) into a [`DeliveryTrace`].

use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::client_process::{ClientProcess, ClientSpec};
use crate::client_stats::TransferStats;
use crate::delivery_trace::DeliveryTrace;
use crate::error::{LabError, Result};
use crate::interrupt;
use crate::replica_pool::ReplicaPool;

/// How often the client's output is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Which replica to kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Victim {
    /// This one.
    Replica(usize),
    /// The one that has sent the most packets when the kill is due (the one serving the
    /// transfer, when a balancer pins the connection to a replica).
    Busiest,
}

/// When to kill what.
#[derive(Clone, Debug)]
pub struct FailurePlan {
    /// The replica to kill.
    pub victim: Victim,
    /// Kill once the client has delivered this many bytes.
    pub kill_at_bytes: u64,
    /// Start the replacement this long after the kill.
    pub restart_after: Option<Duration>,
    /// The whole scenario must end within this.
    pub limit: Duration,
}

/// What happened.
#[derive(Clone, Debug)]
pub struct FailoverRun {
    /// The client's statistics.
    pub stats: TransferStats,
    /// Delivered bytes over time, with the kill and restart as events.
    pub trace: DeliveryTrace,
    /// The replica killed.
    pub replica: usize,
    /// Seconds after the client's start when the replica was killed.
    pub killed_at: f64,
    /// Seconds after the client's start when the replacement was healthy (if there was one).
    pub restarted_at: Option<f64>,
    /// Bytes the client had delivered at the kill.
    pub delivered_at_kill: u64,
    /// Seconds after the client's start when its output first grew after the replacement
    /// was healthy (`None` if it had finished by then).
    pub resumed_at: Option<f64>,
}

/// Runs the scenario; the client writes to `client.output` (required: it is what is sampled).
pub fn fetch_through_failover(
    binaries: &Binaries,
    pool: &mut ReplicaPool,
    client: ClientSpec,
    plan: &FailurePlan,
) -> Result<FailoverRun> {
    let output = client
        .output
        .clone()
        .ok_or_else(|| LabError::Usage("the failover scenario samples -o FILE".to_owned()))?;
    let mut trace = DeliveryTrace::default();
    let mut process = ClientProcess::start(binaries, client)?;
    let start = Instant::now();
    let since = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut killed: Option<(Instant, u64, usize)> = None;
    let mut restarted: Option<Instant> = None;
    loop {
        interrupt::check()?;
        let exited = process.has_exited()?;
        let delivered = std::fs::metadata(&output).map_or(0, |m| m.len());
        let now = Instant::now();
        trace.sample(since(now), delivered);
        if exited {
            break;
        }
        if killed.is_none() && delivered >= plan.kill_at_bytes {
            let replica = match plan.victim {
                Victim::Replica(i) => i,
                Victim::Busiest => pool.busiest_replica().unwrap_or(0),
            };
            pool.kill_replica(replica)?;
            trace.event(since(now), format!("replica {replica} killed (SIGKILL)"));
            killed = Some((now, delivered, replica));
        }
        if let (Some((at, _, replica)), None) = (killed, restarted) {
            if plan
                .restart_after
                .is_some_and(|after| now.duration_since(at) >= after)
            {
                pool.restart_replica(replica)?;
                let healthy = Instant::now();
                trace.event(
                    since(healthy),
                    format!("replica {replica} replaced (same key, same port)"),
                );
                restarted = Some(healthy);
            }
        }
        pool.check_running()?;
        if now.duration_since(start) > plan.limit {
            return Err(LabError::Timeout {
                what: "the transfer to finish through the failover".to_owned(),
                after: plan.limit,
            });
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    let remaining = plan.limit.saturating_sub(start.elapsed()) + Duration::from_secs(1);
    let stats = process.finish(remaining)?;
    let plan_ran = killed.is_some() && (plan.restart_after.is_none() || restarted.is_some());
    let (Some((kill, delivered_at_kill, replica)), true) = (killed, plan_ran) else {
        return Err(LabError::Usage(format!(
            "the transfer ended ({} bytes) before the failure plan ran (kill at {} bytes, \
             restart {:?} later); use a larger file",
            stats.bytes, plan.kill_at_bytes, plan.restart_after
        )));
    };
    let restarted_at = restarted.map(since);
    let resumed_at = restarted_at.and_then(|at| first_growth_after(&trace, at));
    Ok(FailoverRun {
        stats,
        trace,
        replica,
        killed_at: since(kill),
        restarted_at,
        delivered_at_kill,
        resumed_at,
    })
}

/// The time of the first sample after `seconds` whose byte count exceeds the count at
/// `seconds`.
fn first_growth_after(trace: &DeliveryTrace, seconds: f64) -> Option<f64> {
    let base = trace.bytes_at(seconds);
    trace
        .samples()
        .iter()
        .find(|&&(t, bytes)| t > seconds && bytes > base)
        .map(|&(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_found_after_the_given_time_only() {
        let mut trace = DeliveryTrace::default();
        for (t, b) in [
            (0.0, 0),
            (0.1, 10),
            (0.2, 20),
            (1.0, 20),
            (1.3, 20),
            (1.4, 30),
        ] {
            trace.sample(t, b);
        }
        assert_eq!(first_growth_after(&trace, 1.0), Some(1.4));
        assert_eq!(first_growth_after(&trace, 0.05), Some(0.1));
        assert_eq!(first_growth_after(&trace, 1.4), None);
    }
}
