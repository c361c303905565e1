//! The closed-form window `TCPCwnd(k)` (§3.3 of the reference): the window TCP Reno would
//! have after acknowledging the packets `tcp_base..k` (excluding `k`), computed from the three
//! numbers a continuation carries instead of from a per-connection counter.
//!
//! With `start = min(start_cwnd, MAX_CWND)` and `s = min(max(ssthresh, start), MAX_CWND)` the
//! slow-start ceiling, the window
//! - grows by one per ack from `start` to `s` (slow start, `s - start` acks);
//! - then holds each value `w` for `w` acks (congestion avoidance): after `m` acks past the
//!   ceiling it is the smallest `w >= s` with `s + (s+1) + ... + w > m`, i.e.
//!   `w(w+1)/2 - s(s-1)/2 > m`, found with an exact integer square root;
//! - never exceeds [`MAX_CWND`].

use super::MAX_CWND;

/// Window parameters carried in a continuation (TCPBase, startCwnd, ssthresh): where the
/// current congestion epoch began, the window it began with, and its slow-start threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowParams {
    /// Sequence number of the first packet of the epoch.
    pub tcp_base: u64,
    /// Window at the start of the epoch, in packets.
    pub start_cwnd: u32,
    /// Slow-start threshold, in packets.
    pub ssthresh: u32,
    /// Largest window this connection may use: the client's receive window in packets (flow
    /// control), itself at most [`MAX_CWND`].
    pub max_cwnd: u32,
}

impl WindowParams {
    /// `TCPCwnd(k)` of §3.3: the window after the acks `tcp_base..k` (`k - tcp_base` acks).
    /// For `k < tcp_base`, the start window. Clamped to [`MAX_CWND`]; never panics.
    pub fn cwnd(&self, k: u64) -> u32 {
        self.uncapped_cwnd(k).min(self.max_cwnd.max(1))
    }

    /// The closed form before the connection's own cap (`max_cwnd`) applies.
    fn uncapped_cwnd(&self, k: u64) -> u32 {
        let start = self.start_cwnd.min(MAX_CWND);
        let Some(acks) = k.checked_sub(self.tcp_base) else {
            return start;
        };
        let ceiling = self.slow_start_ceiling();
        let slow_start_acks = u64::from(ceiling - start);
        if acks < slow_start_acks {
            // acks < slow_start_acks <= MAX_CWND: the sum stays below MAX_CWND.
            return start + acks as u32;
        }
        congestion_avoidance_window(ceiling, acks - slow_start_acks)
    }

    /// The start window, clamped to [`MAX_CWND`] and the connection's cap.
    pub fn start_window(&self) -> u32 {
        self.start_cwnd.min(MAX_CWND).min(self.max_cwnd.max(1))
    }

    /// `s` of §3.3: the window at which slow start ends, `min(max(ssthresh, start), MAX_CWND)`.
    pub fn slow_start_ceiling(&self) -> u32 {
        self.ssthresh.max(self.start_cwnd).min(MAX_CWND)
    }
}

/// `n(n+1)/2`.
fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// The window `m` acks after congestion avoidance began at window `ceiling`: the smallest
/// `w >= ceiling` with `w(w+1)/2 - ceiling(ceiling-1)/2 > m`, clamped to [`MAX_CWND`].
fn congestion_avoidance_window(ceiling: u32, m: u64) -> u32 {
    let s = u64::from(ceiling);
    let below_ceiling = triangle(s.saturating_sub(1));
    // Acks needed to climb from the ceiling to MAX_CWND: ceiling + ... + (MAX_CWND - 1).
    let acks_to_max = triangle(u64::from(MAX_CWND) - 1).saturating_sub(below_ceiling);
    if m >= acks_to_max {
        return MAX_CWND;
    }
    // Here m < 2^25 and s(s-1) < 2^26, so 4t + 1 < 2^30: no overflow.
    let t = 2 * m + 2 * below_ceiling;
    // Largest w' with w'(w'+1) <= t, i.e. floor((sqrt(4t+1) - 1) / 2), exactly.
    let below = ((4 * t + 1).isqrt() - 1) / 2;
    let w = (below + 1).max(s).min(u64::from(MAX_CWND));
    // w <= MAX_CWND, so it fits.
    w as u32
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
            max_cwnd: MAX_CWND,
        }
    }

    /// The window after `acks` acks, by stepping a per-ack Reno window.
    fn stepped_window(start_cwnd: u32, ssthresh: u32, acks: u64) -> u32 {
        let mut cwnd = start_cwnd.min(MAX_CWND);
        let mut held = 0;
        for _ in 0..acks {
            if cwnd < ssthresh {
                cwnd += 1;
            } else {
                held += 1;
                if held >= cwnd {
                    cwnd += 1;
                    held = 0;
                }
            }
            cwnd = cwnd.min(MAX_CWND);
        }
        cwnd
    }

    #[test]
    fn initial_state_vector_of_section_3_3() {
        let p = params(1, 3, INITIAL_SSTHRESH);
        let windows: Vec<u32> = (1..=11).map(|k| p.cwnd(k)).collect();
        assert_eq!(windows, vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    }

    #[test]
    fn slow_start_then_avoidance_vector_of_section_3_3() {
        let p = params(0, 2, 8);
        let windows: Vec<u32> = (0..=5).map(|k| p.cwnd(k)).collect();
        assert_eq!(windows, vec![2, 3, 4, 5, 6, 7]);
        assert!((6..=13).all(|k| p.cwnd(k) == 8));
        assert!((14..=22).all(|k| p.cwnd(k) == 9));
        assert!((23..=32).all(|k| p.cwnd(k) == 10));
        assert_eq!(p.cwnd(33), 11);
    }

    #[test]
    fn post_recovery_vector_of_section_3_3() {
        let p = params(110, 5, 5);
        assert!((110..=114).all(|k| p.cwnd(k) == 5));
        assert!((115..=120).all(|k| p.cwnd(k) == 6));
        assert!((121..=127).all(|k| p.cwnd(k) == 7));
        assert_eq!(p.cwnd(128), 8);
    }

    #[test]
    fn acks_below_the_base_see_the_start_window() {
        let p = params(100, 7, 50);
        assert_eq!(p.cwnd(0), 7);
        assert_eq!(p.cwnd(99), 7);
        assert_eq!(p.cwnd(100), 7);
        assert_eq!(p.cwnd(101), 8);
    }

    #[test]
    fn window_stops_at_max_cwnd() {
        let p = params(1, 3, INITIAL_SSTHRESH);
        let at_max = 1 + u64::from(MAX_CWND - 3);
        assert_eq!(p.cwnd(at_max - 1), MAX_CWND - 1);
        assert_eq!(p.cwnd(at_max), MAX_CWND);
        assert_eq!(p.cwnd(at_max + 1_000_000), MAX_CWND);
        assert_eq!(p.cwnd(u64::MAX), MAX_CWND);
        // Congestion avoidance reaches the clamp too, and the last step before it is exact.
        let q = params(0, 8000, 8000);
        let acks_to_max: u64 = (8000..MAX_CWND).map(u64::from).sum();
        assert_eq!(q.cwnd(acks_to_max - 1), MAX_CWND - 1);
        assert_eq!(q.cwnd(acks_to_max), MAX_CWND);
    }

    #[test]
    fn oversized_start_window_is_clamped() {
        let p = params(10, u32::MAX, 0);
        assert_eq!(p.cwnd(0), MAX_CWND);
        assert_eq!(p.cwnd(10), MAX_CWND);
        assert_eq!(p.cwnd(1 << 40), MAX_CWND);
    }

    #[test]
    fn matches_a_stepped_window_exhaustively_for_small_parameters() {
        for start in 1..=12 {
            for ssthresh in 0..=24 {
                let p = params(5, start, ssthresh);
                for acks in 0..400 {
                    assert_eq!(
                        p.cwnd(5 + acks),
                        stepped_window(start, ssthresh, acks),
                        "start {start} ssthresh {ssthresh} acks {acks}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_within_the_clamp(
            tcp_base: u64, start_cwnd: u32, ssthresh: u32, k: u64,
        ) {
            let w = params(tcp_base, start_cwnd, ssthresh).cwnd(k);
            prop_assert!(w <= MAX_CWND);
        }

        #[test]
        fn grows_by_zero_or_one_per_ack(
            tcp_base in 0u64..1 << 62, start_cwnd in 1u32..10_000, ssthresh: u32,
            acks in 0u64..1 << 40,
        ) {
            let p = params(tcp_base, start_cwnd, ssthresh);
            let k = tcp_base + acks;
            let step = p.cwnd(k + 1) - p.cwnd(k);
            prop_assert!(step <= 1);
        }

        #[test]
        fn matches_a_stepped_window(
            start_cwnd in 1u32..200, ssthresh in 0u32..400, acks in 0u64..3_000,
        ) {
            let p = params(1, start_cwnd, ssthresh);
            prop_assert_eq!(p.cwnd(1 + acks), stepped_window(start_cwnd, ssthresh, acks));
        }
    }
}
