//! The normal step (§3.2 of the reference, FULL1 continuations): which packets a request
//! acknowledging packet `k` releases when no loss is in sight.
//!
//! TCP releases, on the ack of `k`, everything up to `k + cwnd`. With `prev` the window the
//! previous ack left (the start window for the first ack of the epoch) and `curr = cwnd(k)`,
//! the packets `k + prev ..= k + curr` are new: one to keep the trickle going, and one more
//! when the window grew (a split). So every packet up to `k + cwnd(k)` is released exactly
//! once, by exactly one request.

use core::ops::Range;

use super::{WindowParams, MAX_PACKETS_PER_REQUEST};

/// §3.2 normal step for a (FULL1) request acknowledging packet `k` (`k >= tcp_base`):
/// `prev = (k == tcp_base) ? start_cwnd : cwnd(k-1)`; `curr = cwnd(k)`;
/// `n = max(0, curr - prev) + 1`; the seqs to emit are `k+prev .. k+prev+n` (half-open).
///
/// `None` if `n > MAX_PACKETS_PER_REQUEST`, if `k < tcp_base` (no packet of an epoch lies
/// below its base), if `start_cwnd == 0` (an epoch that released nothing) or if the range
/// would pass `u64::MAX`.
pub fn normal_step(p: &WindowParams, k: u64) -> Option<Range<u64>> {
    if k < p.tcp_base || p.start_cwnd == 0 {
        return None;
    }
    let prev = if k == p.tcp_base {
        p.start_window()
    } else {
        p.cwnd(k - 1)
    };
    let curr = p.cwnd(k);
    let count = u64::from(curr.saturating_sub(prev)) + 1;
    if count > MAX_PACKETS_PER_REQUEST {
        return None;
    }
    let first = k.checked_add(u64::from(prev))?;
    let end = first.checked_add(count)?;
    Some(first..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::{INITIAL_SSTHRESH, MAX_CWND};
    use proptest::prelude::*;

    fn params(tcp_base: u64, start_cwnd: u32, ssthresh: u32) -> WindowParams {
        WindowParams {
            tcp_base,
            start_cwnd,
            ssthresh,
            max_cwnd: crate::cc::MAX_CWND,
        }
    }

    fn emitted(p: &WindowParams, k: u64) -> Vec<u64> {
        normal_step(p, k).map(Iterator::collect).unwrap_or_default()
    }

    #[test]
    fn initial_window_splits_every_trickle_after_the_first_ack() {
        let p = params(1, 3, INITIAL_SSTHRESH);
        assert_eq!(emitted(&p, 1), vec![4]);
        assert_eq!(emitted(&p, 2), vec![5, 6]);
        assert_eq!(emitted(&p, 3), vec![7, 8]);
        assert_eq!(emitted(&p, 4), vec![9, 10]);
    }

    #[test]
    fn post_recovery_window_splits_once_per_window() {
        let p = params(110, 5, 5);
        for k in 110..=114 {
            assert_eq!(emitted(&p, k), vec![k + 5]);
        }
        assert_eq!(emitted(&p, 115), vec![120, 121]);
        assert_eq!(emitted(&p, 116), vec![122]);
    }

    #[test]
    fn window_at_the_clamp_keeps_each_trickle_alive() {
        let p = params(0, MAX_CWND, MAX_CWND);
        assert_eq!(emitted(&p, 0), vec![u64::from(MAX_CWND)]);
        assert_eq!(emitted(&p, 1 << 40), vec![(1 << 40) + u64::from(MAX_CWND)]);
    }

    #[test]
    fn acks_below_the_base_are_refused() {
        assert_eq!(normal_step(&params(110, 5, 5), 109), None);
    }

    #[test]
    fn an_empty_start_window_is_refused() {
        assert_eq!(normal_step(&params(110, 0, 5), 110), None);
        assert_eq!(normal_step(&params(110, 0, 5), 111), None);
    }

    #[test]
    fn ranges_past_the_end_of_the_sequence_space_are_refused() {
        assert_eq!(normal_step(&params(u64::MAX - 3, 5, 5), u64::MAX - 2), None);
    }

    proptest! {
        #[test]
        fn never_panics(tcp_base: u64, start_cwnd: u32, ssthresh: u32, k: u64) {
            let _ = normal_step(&params(tcp_base, start_cwnd, ssthresh), k);
        }

        #[test]
        fn releases_each_packet_exactly_once(
            tcp_base in 0u64..1 << 62, start_cwnd in 1u32..10_000, ssthresh: u32,
            acks in 0u64..1 << 40, run in 1u64..50,
        ) {
            let p = params(tcp_base, start_cwnd, ssthresh);
            let first = tcp_base + acks;
            // Before the run, the previous acks released everything up to first + prev - 1.
            let prev = if first == tcp_base { p.start_window() } else { p.cwnd(first - 1) };
            let mut next = first + u64::from(prev);
            for k in first..first + run {
                let range = normal_step(&p, k);
                prop_assert!(range.is_some());
                let range = range.unwrap_or_default();
                prop_assert_eq!(range.start, next);
                prop_assert_eq!(range.end, k + u64::from(p.cwnd(k)) + 1);
                next = range.end;
            }
        }
    }
}
