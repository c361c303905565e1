//! The failover scenario: one client fetches a file from a [`ReplicaPool`]; when it has
//! `kill_at_bytes`, a replica is SIGKILLed; after `restart_after` (if any, and if the transfer
//! is still running) a new process takes the same key and address; the *same* client process
//! must finish. The client's delivery is sampled
//! throughout (the size of its output file) into a [`DeliveryTrace`], whose events are the kill,
//! the restart, the end of the stall the kill caused and, when the pool has a balancer, what a
//! [`BalancerWatch`] reads from it: the replica the connection is on, and the killed replica
//! leaving and re-entering the forwarding table.

use std::time::{Duration, Instant};

use crate::balancer_watch::BalancerWatch;
use crate::binaries::Binaries;
use crate::byte_size::format_bytes;
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
    /// The longest pause in the client's deliveries after the kill, `(from, to)` in seconds
    /// after the client's start, as sampled from its output (`None` if nothing paused).
    pub stall_after_kill: Option<(f64, f64)>,
    /// Seconds after the client's start when the balancer's table was read without the killed
    /// replica (if there is a balancer).
    pub left_table_at: Option<f64>,
    /// Seconds after the client's start when the table was read with the killed replica again.
    pub rejoined_table_at: Option<f64>,
    /// The replica the balancer last sent the connection's datagrams to (if there is a
    /// balancer and the connection was seen).
    pub finished_on: Option<usize>,
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
    let mut restart_begun = false;
    let mut restarted: Option<Instant> = None;
    let mut watch = BalancerWatch::new(pool.replica_count());
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
            trace.event(
                since(now),
                format!(
                    "replica {replica} killed (SIGKILL) after {}",
                    format_bytes(delivered)
                ),
            );
            killed = Some((now, delivered, replica));
        }
        if let Some(balancer) = pool.balancer() {
            watch.poll(balancer, since(now), &mut trace);
        }
        if let Some((at, _, replica)) = killed {
            let due = plan
                .restart_after
                .is_some_and(|after| now.duration_since(at) >= after);
            if due && !restart_begun {
                // Not waited for here: the samples go on while the replacement starts.
                pool.begin_restart(replica)?;
                restart_begun = true;
            } else if restart_begun && restarted.is_none() && pool.replica_healthy(replica)? {
                trace.event(
                    since(now),
                    format!("replica {replica} replaced (same key, same port)"),
                );
                restarted = Some(now);
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
    // The replacement may come after the end: a balanced pool finishes without it.
    let Some((kill, delivered_at_kill, replica)) = killed else {
        return Err(LabError::Usage(format!(
            "the transfer ended ({} bytes) before the kill at {} bytes; use a larger file",
            stats.bytes, plan.kill_at_bytes
        )));
    };
    let restarted_at = restarted.map(since);
    let stall_after_kill = longest_pause_after(&trace, since(kill));
    if let Some((_, resumed)) = stall_after_kill {
        trace.event(resumed, "deliveries resumed");
    }
    Ok(FailoverRun {
        stats,
        trace,
        replica,
        killed_at: since(kill),
        restarted_at,
        delivered_at_kill,
        stall_after_kill,
        left_table_at: watch.table_change(replica, false, since(kill)),
        rejoined_table_at: watch.table_change(replica, true, since(kill)),
        finished_on: watch.serving(),
    })
}

/// The longest interval between two consecutive growths of the delivered bytes that ends
/// after `seconds`: `(last growth before the pause, first growth after it)`.
fn longest_pause_after(trace: &DeliveryTrace, seconds: f64) -> Option<(f64, f64)> {
    let mut last: Option<(f64, u64)> = None;
    let mut longest: Option<(f64, f64)> = None;
    for &(t, bytes) in trace.samples() {
        match last {
            Some((since, before)) if bytes > before => {
                let gap = t - since;
                if t > seconds && longest.is_none_or(|(a, b)| gap > b - a) {
                    longest = Some((since, t));
                }
                last = Some((t, bytes));
            }
            None => last = Some((t, bytes)),
            Some(_) => {}
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_pause_after_the_kill_is_found() {
        let mut trace = DeliveryTrace::default();
        for (t, b) in [
            (0.0, 0),
            (0.1, 10),
            (0.2, 20),
            (0.3, 20),
            (1.0, 20),
            (1.3, 30),
            (1.4, 30),
            (1.5, 40),
        ] {
            trace.sample(t, b);
        }
        assert_eq!(longest_pause_after(&trace, 0.25), Some((0.2, 1.3)));
        assert_eq!(longest_pause_after(&trace, 1.4), Some((1.3, 1.5)));
        assert_eq!(longest_pause_after(&trace, 2.0), None);
    }
}
