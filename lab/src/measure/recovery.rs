//! [`Recovery`]: how a transfer got over a failure (a server or replica SIGKILLed at time
//! `kill`), read off its [`DeliveryTrace`] (delivered bytes sampled every 10 ms).
//!
//! Definitions (docs/EXPERIMENTS.md quotes them), all times in seconds since the client
//! started; a *gap* is the interval between two consecutive samples at which the delivered
//! bytes grew:
//! - **pre-kill goodput**: the bytes delivered in `[kill/2, kill]` divided by `kill/2` (the
//!   second half of the time before the kill: past the start-up, before the failure);
//! - **outage**: the first gap of at least `min_stall` that ends after the kill, `(last byte
//!   before, first byte after)`; what arrives between the kill and its start is **drained**
//!   (data already in flight or queued; for TCP also what the dead server's kernel still sends
//!   from its socket buffer before closing the connection);
//! - **resumed after**: the outage's end minus the kill (0 without an outage): the time to the
//!   first byte sent after the failure;
//! - **recovered after**: `t − kill` for the first sampled `t` at or after the outage's end
//!   (the kill without an outage) from which the goodput
//!   over every `window` starting in `[t, t + sustain]` is at least `fraction` of the pre-kill
//!   goodput (sustained, so a burst of reordered data released at once does not count);
//!   `None` when that never happens before the transfer ends;
//! - **longest stall**: the longest gap ending after the kill and beginning before
//!   `kill + horizon`;
//! - **time lost**: `lost_window` minus the time the bytes delivered in `[kill, kill +
//!   lost_window]` take at the pre-kill goodput: what the failure cost the transfer, stalls and
//!   slow recovery together (over a fixed window, so an error in the pre-kill goodput costs
//!   only that window times the error).

use crate::measure::delivery::DeliveryTrace;

/// The parameters of the definitions above.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecoveryRule {
    /// Shortest gap that counts as the outage, seconds.
    pub min_stall: f64,
    /// Length of the goodput windows that must reach `fraction`, seconds.
    pub window: f64,
    /// How long after `t` windows must keep reaching it, seconds.
    pub sustain: f64,
    /// Share of the pre-kill goodput that counts as recovered.
    pub fraction: f64,
    /// Only gaps beginning before `kill + horizon` are the failure's.
    pub horizon: f64,
    /// The window after the kill over which the time lost is counted, seconds.
    pub lost_window: f64,
}

/// Outages from 30 ms (three samples); 80 % of the pre-kill goodput in every half-second
/// window starting within one second; stalls beginning within 5 s of the kill; time lost
/// counted over the 2 s after the kill.
pub const RECOVERY_RULE: RecoveryRule = RecoveryRule {
    min_stall: 0.03,
    window: 0.5,
    sustain: 1.0,
    fraction: 0.8,
    horizon: 5.0,
    lost_window: 2.0,
};

/// What the trace says about the failure at `kill`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// When the failure happened.
    pub kill: f64,
    /// Goodput before it, megabytes (10⁶) per second.
    pub pre_kill_mb_per_s: f64,
    /// The first gap of at least the rule's `min_stall` after the kill.
    pub outage: Option<(f64, f64)>,
    /// Bytes delivered after the kill and before the outage.
    pub drained_bytes: u64,
    /// Seconds from the kill to the first byte after the outage (0 without one).
    pub resumed_after: f64,
    /// Seconds from the kill to goodput back at the rule's fraction of the pre-kill goodput.
    pub recovered_after: Option<f64>,
    /// The longest gap after the kill.
    pub longest_stall: Option<(f64, f64)>,
    /// Seconds of transfer at the pre-kill goodput lost in the window after the kill (`None`
    /// when the transfer ended within the window).
    pub time_lost: Option<f64>,
}

impl Recovery {
    /// The outage's length in seconds (0 without one).
    pub fn outage_seconds(&self) -> f64 {
        self.outage.map_or(0.0, |(from, to)| to - from)
    }

    /// The longest stall's length in seconds (0 without one).
    pub fn longest_stall_seconds(&self) -> f64 {
        self.longest_stall.map_or(0.0, |(from, to)| to - from)
    }
}

/// The definitions in a few lines, printed under the experiments' tables.
pub fn legend(rule: RecoveryRule) -> String {
    format!(
        "times from the kill: outage = first delivery gap >= {:.0} ms after it (drained = \
         bytes before that gap); resumed = first byte after the outage; recovered = from then \
         on, goodput in every {} s window over the next {} s >= {:.0} % of the pre-kill \
         goodput; time_lost = {} s minus the time the bytes of the {} s after the kill take \
         at the pre-kill goodput; longest_stall = longest gap after the kill \
         (client_longest_stall: the client's own, whole transfer)\n",
        rule.min_stall * 1e3,
        rule.window,
        rule.sustain,
        rule.fraction * 100.0,
        rule.lost_window,
        rule.lost_window
    )
}

/// Reads the failure at `kill` off `trace` with `rule`.
pub fn analyse(trace: &DeliveryTrace, kill: f64, rule: RecoveryRule) -> Recovery {
    let pre_start = kill / 2.0;
    let pre_kill_bytes_per_s = if kill > 0.0 {
        trace
            .bytes_at(kill)
            .saturating_sub(trace.bytes_at(pre_start)) as f64
            / (kill - pre_start)
    } else {
        0.0
    };
    let gaps = gaps_after(trace, kill, kill + rule.horizon);
    let outage = gaps
        .iter()
        .copied()
        .find(|(from, to)| to - from >= rule.min_stall);
    let longest_stall = gaps
        .iter()
        .copied()
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)));
    let drained_bytes = outage.map_or(0, |(from, _)| {
        trace.bytes_at(from).saturating_sub(trace.bytes_at(kill))
    });
    let wanted = rule.fraction * pre_kill_bytes_per_s * rule.window;
    let reaches = |s: f64| {
        trace
            .bytes_at(s + rule.window)
            .saturating_sub(trace.bytes_at(s)) as f64
            >= wanted
    };
    let samples = trace.samples();
    let end = samples.last().map_or(0.0, |s| s.0);
    let times: Vec<f64> = samples.iter().map(|&(t, _)| t).collect();
    let resume = outage.map_or(kill, |(_, to)| to);
    let recovered_after = times
        .iter()
        .copied()
        .filter(|&t| t >= resume && t + rule.sustain + rule.window <= end)
        .find(|&t| {
            times
                .iter()
                .copied()
                .filter(|&s| s >= t && s <= t + rule.sustain)
                .all(reaches)
        })
        .map(|t| t - kill);
    Recovery {
        kill,
        pre_kill_mb_per_s: pre_kill_bytes_per_s / 1e6,
        outage,
        drained_bytes,
        resumed_after: resume - kill,
        recovered_after,
        longest_stall,
        time_lost: time_lost(trace, kill, pre_kill_bytes_per_s, rule.lost_window),
    }
}

/// The gaps between consecutive growths of the delivered bytes that end after `after` and
/// begin before `before`, in time order.
fn gaps_after(trace: &DeliveryTrace, after: f64, before: f64) -> Vec<(f64, f64)> {
    let mut last_growth: Option<(f64, u64)> = None;
    let mut gaps = Vec::new();
    for &(t, bytes) in trace.samples() {
        match last_growth {
            None => last_growth = Some((t, bytes)),
            Some((since, delivered)) if bytes > delivered => {
                if t > after && since < before {
                    gaps.push((since, t));
                }
                last_growth = Some((t, bytes));
            }
            Some(_) => {}
        }
    }
    gaps
}

/// `window` minus the time the bytes delivered in `[kill, kill + window]` take at `rate`.
fn time_lost(trace: &DeliveryTrace, kill: f64, rate: f64, window: f64) -> Option<f64> {
    let end = trace.samples().last()?.0;
    let delivered = trace
        .bytes_at(kill + window)
        .saturating_sub(trace.bytes_at(kill));
    (rate > 0.0 && kill + window <= end).then(|| window - delivered as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 ms samples: `rate(t)` bytes per second, integrated.
    fn trace(end: f64, rate: impl Fn(f64) -> f64) -> DeliveryTrace {
        let mut trace = DeliveryTrace::default();
        let mut bytes = 0.0;
        for k in 0..=(end * 100.0).round() as usize {
            let t = k as f64 / 100.0;
            trace.sample(t, bytes as u64);
            bytes += rate(t) * 0.01;
        }
        trace
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.015
    }

    #[test]
    fn an_outage_then_a_slow_start_is_measured_from_the_kill() {
        // 10 MB/s; nothing from the kill at 10.0 until 10.3; half rate for 0.4 s; full again.
        let trace = trace(20.0, |t| match t {
            t if (10.0..10.3).contains(&t) => 0.0,
            t if (10.3..10.7).contains(&t) => 5e6,
            _ => 10e6,
        });
        let r = analyse(&trace, 10.0, RECOVERY_RULE);
        assert!((r.pre_kill_mb_per_s - 10.0).abs() < 0.1, "{r:?}");
        let (from, to) = r.outage.expect("an outage");
        assert!(near(from, 10.0) && near(to, 10.31), "{r:?}");
        assert_eq!(r.longest_stall, r.outage, "{r:?}");
        assert!(r.drained_bytes <= 100_000, "{r:?}");
        assert!(near(r.resumed_after, 0.31), "{r:?}");
        // Every half-second window from t on reaches 8 MB once at most 0.2 s of it is at half
        // rate (5·x + 10·(0.5 − x) ≥ 4): from t = 10.5.
        let recovered = r.recovered_after.expect("recovered");
        assert!((recovered - 0.5).abs() < 0.02, "{r:?}");
        // 0.3 s without data and 0.4 s at half rate: 0.5 s of transfer lost.
        let lost = r.time_lost.expect("time lost");
        assert!((lost - 0.5).abs() < 0.03, "{r:?}");
    }

    #[test]
    fn bytes_still_arriving_after_the_kill_are_drained_before_the_outage() {
        let trace = trace(20.0, |t| if (10.4..10.6).contains(&t) { 0.0 } else { 10e6 });
        let r = analyse(&trace, 10.0, RECOVERY_RULE);
        let (from, _) = r.outage.expect("an outage");
        assert!(near(from, 10.4), "{r:?}");
        assert!((r.drained_bytes as f64 - 4e6).abs() < 0.2e6, "{r:?}");
        assert!(near(r.resumed_after, 0.61), "{r:?}");
    }

    #[test]
    fn a_burst_between_two_outages_is_not_recovery() {
        // Out 10.0–10.5, a 3 MB burst (reordered data released at once), out again until
        // 11.0, then steady.
        let trace = trace(20.0, |t| match t {
            t if (10.0..10.5).contains(&t) => 0.0,
            t if (10.5..10.51).contains(&t) => 300e6,
            t if (10.51..11.0).contains(&t) => 0.0,
            _ => 10e6,
        });
        let r = analyse(&trace, 10.0, RECOVERY_RULE);
        assert!(
            near(r.resumed_after, 0.51),
            "first byte after the first outage: {r:?}"
        );
        let recovered = r.recovered_after.expect("recovered");
        assert!(
            recovered >= 0.9,
            "only once the second outage is over: {r:?}"
        );
    }

    #[test]
    fn a_transfer_that_never_gets_back_up_is_not_recovered() {
        let trace = trace(20.0, |t| if t < 10.0 { 10e6 } else { 5e6 });
        let r = analyse(&trace, 10.0, RECOVERY_RULE);
        assert_eq!(r.recovered_after, None, "{r:?}");
        assert_eq!(r.outage, None, "no gap of 30 ms: {r:?}");
        assert_eq!(r.resumed_after, 0.0, "{r:?}");
        assert!(r.longest_stall_seconds() < 0.015, "{r:?}");
    }

    #[test]
    fn gaps_long_after_the_kill_are_not_the_failure_s() {
        let trace = trace(20.0, |t| match t {
            t if (10.0..10.1).contains(&t) => 0.0,
            t if (17.0..18.0).contains(&t) => 0.0,
            _ => 10e6,
        });
        let r = analyse(&trace, 10.0, RECOVERY_RULE);
        let (from, to) = r.longest_stall.expect("a stall");
        assert!(from < 10.05 && to < 10.2, "{r:?}");
    }
}
