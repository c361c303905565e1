//! Slow-start restart after a retransmission timeout (§3.8 of the reference).
//!
//! When every trickle has died, only the client can restart the connection: it returns one
//! continuation of the current epoch with a slow-start request, and `right`, the end of the
//! contiguous run of packets it holds from that epoch's base. The server starts a new epoch
//! right after it: two packets, `ssthresh` half of the window that was in flight, and the
//! sequence numbers after `right` reused (the client threw away what it held beyond them).

use core::ops::Range;

use super::{WindowParams, MIN_SSTHRESH, SLOWSTART_CWND};

/// The restarted epoch and the packets the slow-start request releases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowStartPlan {
    /// Parameters of the new epoch: `tcp_base = right + 1`, `start_cwnd = SLOWSTART_CWND`,
    /// `ssthresh = max(cwnd(right) / 2, 2)`.
    pub params: WindowParams,
    /// The packets to send: `right + 1 .. right + 1 + SLOWSTART_CWND`.
    pub emit: Range<u64>,
}

/// §3.8 slow-start restart of epoch `p` after a timeout; `right` is the end of the contiguous
/// run the client holds from `p.tcp_base` (`p.tcp_base - 1` when it holds none, and then the
/// window halved is the epoch's start window). The reference falls back to halving the old
/// `ssthresh` when `cwnd(right) < 2`; we keep RFC 5681's floor of 2 instead. Never panics.
pub fn slow_start_plan(p: &WindowParams, right: u64) -> SlowStartPlan {
    let window_in_flight = p.cwnd(right);
    let tcp_base = right.saturating_add(1);
    SlowStartPlan {
        params: WindowParams {
            tcp_base,
            start_cwnd: SLOWSTART_CWND,
            ssthresh: (window_in_flight / 2).max(MIN_SSTHRESH),
            max_cwnd: p.max_cwnd,
        },
        emit: tcp_base..tcp_base.saturating_add(u64::from(SLOWSTART_CWND)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::INITIAL_SSTHRESH;
    use proptest::prelude::*;

    fn params(tcp_base: u64, start_cwnd: u32, ssthresh: u32) -> WindowParams {
        WindowParams {
            tcp_base,
            start_cwnd,
            ssthresh,
            max_cwnd: crate::cc::MAX_CWND,
        }
    }

    #[test]
    fn restarts_at_two_packets_after_the_contiguous_run() {
        // Initial epoch, 20 packets held in order: cwnd(20) = 3 + 19 = 22 was in flight.
        let plan = slow_start_plan(&params(1, 3, INITIAL_SSTHRESH), 20);
        assert_eq!(plan.params, params(21, 2, 11));
        assert_eq!(plan.emit, 21..23);
    }

    #[test]
    fn threshold_never_drops_below_two() {
        let plan = slow_start_plan(&params(30, 3, 3), 30);
        assert_eq!(plan.params.ssthresh, 2);
        let plan = slow_start_plan(&params(30, 2, 2), 31);
        assert_eq!(plan.params.ssthresh, 2);
    }

    #[test]
    fn nothing_held_from_the_epoch_halves_its_start_window() {
        // A timeout right after a recovery to window 12 whose packets were all lost.
        let plan = slow_start_plan(&params(110, 12, 12), 109);
        assert_eq!(plan.params, params(110, 2, 6));
        assert_eq!(plan.emit, 110..112);
    }

    proptest! {
        #[test]
        fn never_panics(tcp_base: u64, start_cwnd: u32, ssthresh: u32, right: u64) {
            let plan = slow_start_plan(&params(tcp_base, start_cwnd, ssthresh), right);
            prop_assert!(plan.params.ssthresh >= MIN_SSTHRESH);
            prop_assert!(plan.emit.end - plan.emit.start <= u64::from(SLOWSTART_CWND));
        }
    }
}
