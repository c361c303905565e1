//! Stateless fast recovery (§3.7 of the reference, FULL1 continuations): what every request
//! that sees the same first loss computes, without knowing about the others.
//!
//! When packet `first_loss` is missing, the old window had released everything up to
//! `last_regular = first_loss - 1 + cwnd(first_loss - 1)`. The window halves to `new_cwnd`;
//! the last `new_cwnd` acks of the old window before `last_regular`, `bootstrap_start ..=
//! bootstrap_end`, each release one new packet, `last_regular + 1 ..= last_regular +
//! new_cwnd`, and every other request of the old window releases nothing (its trickle ends).
//! The new packets carry the `bootstrap` parameters: a new epoch beginning at `last_regular
//! + 1` with `start_cwnd = ssthresh = new_cwnd`, so growth resumes in congestion avoidance.
//! The lost packets themselves are resent by the first request after each hole, which also
//! releases the new packets that the acks of the hole would have released (the server's job,
//! `server::step`).
//!
//! The choice of `new_cwnd` (floor of 2, capped so every promised packet has an ack to
//! release it) is explained in the [`crate::cc`] module documentation.

use core::ops::Range;

use super::{WindowParams, MIN_SSTHRESH};

/// §3.7 recovery: what every request that sees the same first loss computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// First missing packet at or after the epoch's base.
    pub first_loss: u64,
    /// Highest seq the pre-loss window released.
    pub last_regular: u64,
    /// Window after the loss, in packets.
    pub new_cwnd: u32,
    /// Parameters of the packets released during recovery: `tcp_base = last_regular + 1`
    /// (the reference's `firstBootstrapSeq`), `start_cwnd = ssthresh = new_cwnd`.
    pub bootstrap: WindowParams,
    /// Acks in `[bootstrap_start, bootstrap_end]` each release one packet (none when
    /// `new_cwnd == 0`; see [`RecoveryPlan::bootstrap_acks`]).
    pub bootstrap_start: u64,
    /// Last ack that releases a packet: `bootstrap_start + new_cwnd - 1`.
    pub bootstrap_end: u64,
}

/// The recovery plan of a request of epoch `p` whose proof shows `first_loss` missing
/// (`first_loss >= p.tcp_base`, which the proof guarantees). Never panics.
pub fn recovery_plan(p: &WindowParams, first_loss: u64) -> RecoveryPlan {
    // origCwnd: the window the ack of first_loss would have found.
    let window_at_loss = p.cwnd(first_loss);
    // origCwndPred: what the old window had in flight from first_loss on.
    let flight = match first_loss.checked_sub(1) {
        Some(before) => p.cwnd(before),
        None => p.start_window(),
    };
    let last_regular = first_loss
        .saturating_add(u64::from(flight))
        .saturating_sub(1);
    let new_cwnd = (window_at_loss / 2)
        .max(MIN_SSTHRESH)
        .min(flight.saturating_sub(1));
    let bootstrap_start = last_regular.saturating_sub(u64::from(new_cwnd));
    let bootstrap_end = bootstrap_start
        .saturating_add(u64::from(new_cwnd))
        .saturating_sub(1);
    RecoveryPlan {
        first_loss,
        last_regular,
        new_cwnd,
        bootstrap: WindowParams {
            tcp_base: last_regular.saturating_add(1),
            start_cwnd: new_cwnd,
            ssthresh: new_cwnd,
            max_cwnd: p.max_cwnd,
        },
        bootstrap_start,
        bootstrap_end,
    }
}

impl RecoveryPlan {
    /// The plan a post-loss epoch was started by, rebuilt from that epoch's parameters
    /// (`bootstrap`, as carried by its bootstrap continuations) and the plan's `first_loss`:
    /// `last_regular = tcp_base - 1`, `new_cwnd = start_cwnd`. Inverse of
    /// [`recovery_plan`] on its `bootstrap` field.
    pub fn from_bootstrap(bootstrap: &WindowParams, first_loss: u64) -> RecoveryPlan {
        let last_regular = bootstrap.tcp_base.saturating_sub(1);
        let new_cwnd = bootstrap.start_cwnd;
        let bootstrap_start = last_regular.saturating_sub(u64::from(new_cwnd));
        RecoveryPlan {
            first_loss,
            last_regular,
            new_cwnd,
            bootstrap: *bootstrap,
            bootstrap_start,
            bootstrap_end: bootstrap_start
                .saturating_add(u64::from(new_cwnd))
                .saturating_sub(1),
        }
    }

    /// The acks that release a post-loss packet, half-open: `bootstrap_start ..
    /// bootstrap_start + new_cwnd` (empty when `new_cwnd == 0`).
    pub fn bootstrap_acks(&self) -> Range<u64> {
        self.bootstrap_start
            ..self
                .bootstrap_start
                .saturating_add(u64::from(self.new_cwnd))
    }

    /// The new packet released by the ack of `a`, if `a` is in the bootstrap range:
    /// `last_regular + 1 + (a - bootstrap_start)`.
    pub fn bootstrap_seq_for_ack(&self, a: u64) -> Option<u64> {
        if !self.bootstrap_acks().contains(&a) {
            return None;
        }
        self.last_regular
            .checked_add(1)?
            .checked_add(a - self.bootstrap_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn worked_example_of_section_3_7() {
        // Stable window 10 (congestion avoidance far from its next step), packet 100 lost
        // while 100..=109 are in flight.
        let p = params(95, 10, 10);
        assert_eq!((p.cwnd(99), p.cwnd(100)), (10, 10));
        let plan = recovery_plan(&p, 100);
        assert_eq!(plan.first_loss, 100);
        assert_eq!(plan.last_regular, 109);
        assert_eq!(plan.new_cwnd, 5);
        assert_eq!(plan.bootstrap, params(110, 5, 5));
        assert_eq!((plan.bootstrap_start, plan.bootstrap_end), (104, 108));
        assert_eq!(plan.bootstrap_acks(), 104..109);
        let released: Vec<Option<u64>> =
            (101..=109).map(|a| plan.bootstrap_seq_for_ack(a)).collect();
        assert_eq!(
            released,
            [
                None,
                None,
                None,
                Some(110),
                Some(111),
                Some(112),
                Some(113),
                Some(114),
                None
            ]
        );
    }

    #[test]
    fn halves_the_window_the_lost_ack_would_have_found() {
        // Slow start: 9 in flight from the loss on, the ack of the loss would have made it 10.
        let p = params(1, 3, 1000);
        assert_eq!((p.cwnd(7), p.cwnd(8)), (9, 10));
        let plan = recovery_plan(&p, 8);
        assert_eq!(plan.last_regular, 7 + 9);
        assert_eq!(plan.new_cwnd, 5);
    }

    #[test]
    fn small_windows_keep_a_floor_of_two_when_acks_remain_to_release_it() {
        // 3 in flight, window 3: the reference would give 1; two acks remain after the loss.
        let plan = recovery_plan(&params(10, 3, 3), 10);
        assert_eq!(plan.last_regular, 12);
        assert_eq!(plan.new_cwnd, 2);
        assert_eq!(plan.bootstrap_acks(), 10..12);
        assert_eq!(plan.bootstrap_seq_for_ack(10), Some(13));
        assert_eq!(plan.bootstrap_seq_for_ack(11), Some(14));
    }

    #[test]
    fn a_window_of_two_recovers_to_one() {
        let plan = recovery_plan(&params(10, 2, 2), 10);
        assert_eq!(plan.new_cwnd, 1);
        assert_eq!(plan.bootstrap_acks(), 10..11);
    }

    #[test]
    fn losing_the_only_packet_in_flight_bootstraps_nothing() {
        let plan = recovery_plan(&params(10, 1, 1), 10);
        assert_eq!(plan.last_regular, 10);
        assert_eq!(plan.new_cwnd, 0);
        assert!(plan.bootstrap_acks().is_empty());
        assert!((0..20).all(|a| plan.bootstrap_seq_for_ack(a).is_none()));
    }

    proptest! {
        #[test]
        fn never_panics(tcp_base: u64, start_cwnd: u32, ssthresh: u32, first_loss: u64, a: u64) {
            let plan = recovery_plan(&params(tcp_base, start_cwnd, ssthresh), first_loss);
            let _ = plan.bootstrap_seq_for_ack(a);
            let _ = plan.bootstrap_seq_for_ack(plan.bootstrap_start);
        }

        #[test]
        fn every_post_loss_packet_has_an_ack_to_release_it(
            tcp_base in 0u64..1 << 62, start_cwnd in 1u32..10_000, ssthresh: u32,
            offset in 0u64..1 << 30,
        ) {
            let p = params(tcp_base, start_cwnd, ssthresh);
            let first_loss = tcp_base + offset;
            let plan = recovery_plan(&p, first_loss);
            let acks = plan.bootstrap_acks();
            // Released by acks still to come: from the lost packet to the old window's end.
            prop_assert!(acks.is_empty() || acks.start >= first_loss);
            prop_assert!(acks.end <= plan.last_regular);
            prop_assert_eq!(acks.end - acks.start, u64::from(plan.new_cwnd));
            // They release exactly the packets after the old window, in order.
            for (i, a) in acks.enumerate() {
                let expected = plan.last_regular + 1 + i as u64;
                prop_assert_eq!(plan.bootstrap_seq_for_ack(a), Some(expected));
            }
            prop_assert_eq!(plan.bootstrap.tcp_base, plan.last_regular + 1);
        }

        #[test]
        fn a_plan_is_rebuilt_from_its_bootstrap_parameters(
            tcp_base in 0u64..1 << 62, start_cwnd in 1u32..10_000, ssthresh: u32,
            offset in 0u64..1 << 30,
        ) {
            let p = params(tcp_base, start_cwnd, ssthresh);
            let plan = recovery_plan(&p, tcp_base + offset);
            prop_assume!(plan.new_cwnd > 0);
            prop_assert_eq!(RecoveryPlan::from_bootstrap(&plan.bootstrap, plan.first_loss), plan);
        }

        #[test]
        fn follows_the_reference_halving_when_three_packets_follow_the_loss(
            tcp_base in 0u64..1 << 62, start_cwnd in 1u32..10_000, ssthresh: u32,
            offset in 0u64..1 << 30,
        ) {
            let p = params(tcp_base, start_cwnd, ssthresh);
            let first_loss = tcp_base + offset;
            let flight = if offset == 0 { p.start_window() } else { p.cwnd(first_loss - 1) };
            prop_assume!(flight >= 4);
            let plan = recovery_plan(&p, first_loss);
            prop_assert_eq!(plan.new_cwnd, (p.cwnd(first_loss) / 2).max(2));
            prop_assert_eq!(plan.last_regular, first_loss - 1 + u64::from(flight));
        }
    }
}
