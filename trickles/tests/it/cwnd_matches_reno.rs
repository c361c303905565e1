//! The closed-form congestion control, chained as a Trickles server and client chain it,
//! follows the per-ack Reno/NewReno sender of `trickles::cc::reno_model`, for every sequence
//! of in-order deliveries, losses and timeouts.
//!
//! The Trickles side ([`TrickleChain`]) never keeps a window: it calls the stateless functions
//! with the parameters a continuation would carry. Packets are acknowledged in order, one
//! request per packet (FULL1), over a FIFO network. Events:
//! - `Deliver(n)`: the next `n` packets arrive; each request runs `normal_step`.
//! - `Lose(b)`: the next `b` packets are lost, the rest of the window arrives. With at least
//!   three packets after the hole (the client's out-of-order threshold) and `b <= MAX_GAP`,
//!   the client declares the loss and every request after the hole runs `recovery_plan`: the
//!   first one also answers for the hole (retransmission plus the new packets the hole's acks
//!   would have released), the retransmissions arrive and release nothing (RECOVERY state),
//!   and the next epoch runs on the `bootstrap` parameters. Otherwise the loss can only be
//!   repaired by a timeout, handled as below.
//! - `Timeout`: everything in flight is lost; the client restarts with `right` = the last
//!   packet it holds in order, and the server runs `slow_start_plan`.
//!
//! "Equal" means, checked after every acknowledgement:
//! - outside recovery, for the ack of `k`: the packets the request releases are exactly the
//!   packets the Reno model releases on that ack, and `cwnd(k + 1)` (the window after the acks
//!   `tcp_base..=k`) equals the model's `cwnd()`;
//! - on a loss: the plan's `last_regular` is the highest packet actually released, and its
//!   `new_cwnd` is the model's halved `cwnd` and `ssthresh`;
//! - during recovery: the model's window is `new_cwnd` after every ack, and the highest
//!   packet Trickles has released equals the model's, plus one exactly when the ack is in
//!   the plan's bootstrap range (Trickles releases each post-loss packet one ack before a
//!   sender limited to `new_cwnd` packets beyond the highest one delivered);
//! - when recovery ends (the retransmission is the model's full ack): both have released the
//!   same packets, `new_cwnd` of them past the old window, and the model is open again;
//! - on a timeout: the restart sends the same packets with the same `ssthresh` and window.
//!
//! The last tests show the comparison is sharp: the ns-3 reading of the closed form (which
//! skips a window value) and the kernel's one-ack-longer plateau both fail it.

use core::ops::Range;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use trickles::cc::reno_model::{RenoModel, RenoPhase};
use trickles::cc::{
    normal_step, recovery_plan, slow_start_plan, WindowParams, INITIAL_CWND, INITIAL_SSTHRESH,
    MAX_CWND, MAX_GAP,
};

/// Packets that must arrive after a hole for the client to declare it lost.
const OUT_OF_ORDER_THRESHOLD: u64 = 3;

macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// The closed-form functions the chain calls, replaceable so that wrong readings can be
/// shown to fail.
#[derive(Clone, Copy)]
struct ClosedForm {
    cwnd: fn(&WindowParams, u64) -> u32,
    normal_step: fn(&WindowParams, u64) -> Option<Range<u64>>,
}

/// The crate's implementation.
const CRATE: ClosedForm = ClosedForm {
    cwnd: WindowParams::cwnd,
    normal_step,
};

#[derive(Clone, Debug)]
enum Event {
    Deliver(u32),
    Lose(u64),
    Timeout,
}

#[derive(Clone, Debug)]
struct Scenario {
    initial: WindowParams,
    events: Vec<Event>,
}

/// How much of the comparison a scenario exercised.
#[derive(Clone, Copy, Debug, Default)]
struct Coverage {
    acks: u64,
    recoveries: u64,
    timeouts: u64,
    largest_cwnd: u32,
}

/// What a Trickles server computes, request by request, from the continuation parameters
/// alone; `next_ack` and `released_end` are the client's view (what it will acknowledge next,
/// what it has been sent).
struct TrickleChain {
    form: ClosedForm,
    params: WindowParams,
    next_ack: u64,
    released_end: u64,
}

/// Run `scenario` on both sides, comparing after every ack.
fn compare(scenario: &Scenario, form: ClosedForm) -> Result<Coverage, String> {
    let initial = scenario.initial;
    let mut chain = TrickleChain {
        form,
        params: initial,
        next_ack: initial.tcp_base,
        released_end: initial.tcp_base + u64::from(initial.start_cwnd),
    };
    let mut reno = RenoModel::new(initial.tcp_base, initial.start_cwnd, initial.ssthresh);
    let mut coverage = Coverage::default();
    ensure!(
        reno.released_end() == chain.released_end,
        "initial windows differ"
    );
    for (index, event) in scenario.events.iter().enumerate() {
        let outcome = match *event {
            Event::Deliver(count) => {
                (0..count).try_for_each(|_| chain.deliver_next(&mut reno, &mut coverage))
            }
            Event::Lose(burst) => chain.lose(burst, &mut reno, &mut coverage),
            Event::Timeout => chain.time_out(&mut reno, &mut coverage),
        };
        outcome.map_err(|why| format!("event {index} ({event:?}): {why}"))?;
    }
    Ok(coverage)
}

impl TrickleChain {
    /// The next packet arrives in order; its request runs the normal step.
    fn deliver_next(
        &mut self,
        reno: &mut RenoModel,
        coverage: &mut Coverage,
    ) -> Result<(), String> {
        let k = self.next_ack;
        let released = (self.form.normal_step)(&self.params, k)
            .ok_or_else(|| format!("normal step refused ack {k} of {:?}", self.params))?;
        ensure!(
            released.start == self.released_end,
            "ack {k} released {released:?} but {}.. was next",
            self.released_end
        );
        self.released_end = released.end;
        self.next_ack = k + 1;
        let cwnd_after = (self.form.cwnd)(&self.params, k + 1);
        let reno_released = reno.on_ack(k);
        ensure!(
            reno_released == released,
            "ack {k}: trickles released {released:?}, reno {reno_released:?}"
        );
        ensure!(
            reno.cwnd() == cwnd_after,
            "after ack {k}: trickles cwnd {cwnd_after}, reno {}",
            reno.cwnd()
        );
        coverage.acks += 1;
        coverage.largest_cwnd = coverage.largest_cwnd.max(cwnd_after);
        Ok(())
    }

    /// The next `burst` packets are lost and the rest of the window arrives.
    fn lose(
        &mut self,
        burst: u64,
        reno: &mut RenoModel,
        coverage: &mut Coverage,
    ) -> Result<(), String> {
        let flight = self.released_end - self.next_ack;
        if burst + OUT_OF_ORDER_THRESHOLD > flight || burst > MAX_GAP {
            return self.time_out(reno, coverage);
        }
        let first_loss = self.next_ack;
        let old_end = self.released_end;
        let plan = recovery_plan(&self.params, first_loss);
        ensure!(
            plan.last_regular + 1 == old_end,
            "plan says the old window ended at {}, it released up to {}",
            plan.last_regular,
            old_end - 1
        );
        let entered = reno.on_loss_detected();
        ensure!(
            entered == Some(old_end..old_end),
            "reno entered recovery as {entered:?}"
        );
        ensure!(
            reno.cwnd() == plan.new_cwnd && reno.ssthresh() == plan.new_cwnd,
            "loss of {first_loss}: trickles new_cwnd {}, reno cwnd {} ssthresh {}",
            plan.new_cwnd,
            reno.cwnd(),
            reno.ssthresh()
        );
        let first_delivered = first_loss + burst;
        for a in first_delivered..old_end {
            // The first request after the hole also answers for the hole's missing acks.
            let answered_for = if a == first_delivered {
                first_loss..a + 1
            } else {
                a..a + 1
            };
            for x in answered_for {
                if let Some(seq) = plan.bootstrap_seq_for_ack(x) {
                    ensure!(
                        seq == self.released_end,
                        "bootstrap for ack {x} is {seq}, {} was next",
                        self.released_end
                    );
                    self.released_end += 1;
                }
            }
            reno.on_ack(a);
            ensure!(
                reno.cwnd() == plan.new_cwnd,
                "recovery ack {a}: reno cwnd {} instead of {}",
                reno.cwnd(),
                plan.new_cwnd
            );
            let lead = u64::from(plan.bootstrap_acks().contains(&a));
            ensure!(
                self.released_end == reno.released_end() + lead,
                "recovery ack {a}: trickles released up to {}, reno {} (lead {lead})",
                self.released_end - 1,
                reno.released_end() - 1
            );
            coverage.acks += 1;
        }
        // The retransmissions arrive; their RECOVERY continuations release nothing.
        for lost in first_loss..first_delivered {
            let released = reno.on_ack(lost);
            ensure!(
                released.is_empty(),
                "reno released {released:?} on retransmission {lost}"
            );
        }
        ensure!(
            reno.phase() == RenoPhase::Open && reno.snd_una() == old_end,
            "reno did not leave recovery: {:?}, snd_una {}",
            reno.phase(),
            reno.snd_una()
        );
        ensure!(
            self.released_end == old_end + u64::from(plan.new_cwnd)
                && self.released_end == reno.released_end(),
            "after recovery: trickles released up to {}, reno {}, expected {}",
            self.released_end - 1,
            reno.released_end() - 1,
            old_end - 1 + u64::from(plan.new_cwnd)
        );
        self.params = plan.bootstrap;
        self.next_ack = old_end;
        coverage.recoveries += 1;
        Ok(())
    }

    /// Everything in flight is lost; the client restarts from the last packet it holds.
    fn time_out(&mut self, reno: &mut RenoModel, coverage: &mut Coverage) -> Result<(), String> {
        let right = self.next_ack - 1;
        let plan = slow_start_plan(&self.params, right);
        let sent = reno.on_timeout();
        ensure!(
            plan.emit == sent,
            "restart after {right}: trickles sends {:?}, reno {sent:?}",
            plan.emit
        );
        ensure!(
            plan.params.ssthresh == reno.ssthresh() && plan.params.start_cwnd == reno.cwnd(),
            "restart after {right}: trickles {:?}, reno cwnd {} ssthresh {}",
            plan.params,
            reno.cwnd(),
            reno.ssthresh()
        );
        self.params = plan.params;
        self.released_end = plan.emit.end;
        coverage.timeouts += 1;
        Ok(())
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (1u32..300).prop_map(Event::Deliver),
        2 => (1u64..=3).prop_map(Event::Lose),
        1 => (4u64..=MAX_GAP + 2).prop_map(Event::Lose),
        1 => Just(Event::Timeout),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let ssthresh = prop_oneof![0u32..=64, Just(INITIAL_SSTHRESH)];
    (
        1u64..1 << 48,
        1u32..=16,
        ssthresh,
        proptest::collection::vec(event(), 1..25),
    )
        .prop_map(|(tcp_base, start_cwnd, ssthresh, events)| Scenario {
            initial: WindowParams {
                tcp_base,
                start_cwnd,
                ssthresh,
                max_cwnd: trickles::cc::MAX_CWND,
            },
            events,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn closed_form_follows_reno_for_every_ack_loss_and_timeout_sequence(s in scenario()) {
        if let Err(why) = compare(&s, CRATE) {
            prop_assert!(false, "{}", why);
        }
    }
}

/// Slow start to the clamp, avoidance at the clamp, a loss there, a restart, and a burst
/// beyond MAX_GAP that only a timeout can repair.
fn long_connection() -> Scenario {
    use Event::*;
    Scenario {
        initial: WindowParams {
            tcp_base: 1,
            start_cwnd: INITIAL_CWND,
            ssthresh: INITIAL_SSTHRESH,
            max_cwnd: trickles::cc::MAX_CWND,
        },
        events: vec![
            Deliver(9_000),
            Deliver(20_000),
            Lose(1),
            Deliver(5_000),
            Timeout,
            Deliver(3_000),
            Lose(MAX_GAP),
            Deliver(100),
            Lose(MAX_GAP + 1),
            Deliver(50),
        ],
    }
}

#[test]
fn closed_form_follows_reno_through_a_long_connection() {
    let coverage = compare(&long_connection(), CRATE).expect("trajectories match");
    assert_eq!(coverage.largest_cwnd, MAX_CWND);
    assert_eq!((coverage.recoveries, coverage.timeouts), (2, 2));
}

#[test]
fn closed_form_follows_reno_up_to_the_clamp_in_congestion_avoidance() {
    let start = MAX_CWND - 40;
    let acks_to_clamp: u64 = (start..MAX_CWND).map(u64::from).sum();
    let scenario = Scenario {
        initial: WindowParams {
            tcp_base: 1,
            start_cwnd: start,
            ssthresh: start,
            max_cwnd: trickles::cc::MAX_CWND,
        },
        events: vec![
            Event::Deliver(u32::try_from(acks_to_clamp).expect("fits") + 10_000),
            Event::Lose(2),
            Event::Deliver(100),
        ],
    };
    let coverage = compare(&scenario, CRATE).expect("trajectories match");
    assert_eq!(coverage.largest_cwnd, MAX_CWND);
    assert_eq!(coverage.recoveries, 1);
}

#[test]
fn generated_scenarios_exercise_recovery_and_timeouts() {
    let mut runner = TestRunner::deterministic();
    let mut total = Coverage::default();
    for _ in 0..64 {
        let s = scenario()
            .new_tree(&mut runner)
            .expect("scenario generation")
            .current();
        let c = compare(&s, CRATE).expect("trajectories match");
        total.acks += c.acks;
        total.recoveries += c.recoveries;
        total.timeouts += c.timeouts;
        total.largest_cwnd = total.largest_cwnd.max(c.largest_cwnd);
    }
    assert!(total.recoveries >= 64, "{total:?}");
    assert!(total.timeouts >= 32, "{total:?}");
    assert!(total.largest_cwnd >= 1_000, "{total:?}");
}

/// §3.2 written again on top of an arbitrary window function, for the wrong readings below.
fn step_with(cwnd: fn(&WindowParams, u64) -> u32, p: &WindowParams, k: u64) -> Option<Range<u64>> {
    let prev = if k == p.tcp_base {
        p.start_window()
    } else {
        cwnd(p, k - 1)
    };
    let count = u64::from(cwnd(p, k).saturating_sub(prev)) + 1;
    Some(k + u64::from(prev)..k + u64::from(prev) + count)
}

/// The ns-3 model's reading: a plateau of `s + 1` acks at `s`, then
/// `ceil(1/2 + sqrt(1/4 + s^2 - s + 2(k - A)))`, which jumps from `s` to `s + 2`.
fn ns3_cwnd(p: &WindowParams, k: u64) -> u32 {
    let s = u64::from(p.slow_start_ceiling());
    let reaches_ceiling = p.tcp_base + (s - u64::from(p.start_window()));
    if k < reaches_ceiling {
        return p.cwnd(k);
    }
    if k <= reaches_ceiling + s {
        return p.slow_start_ceiling();
    }
    // ceil((1 + sqrt(d)) / 2) with d = 1 + 4(s^2 - s + 2(k - A)), in integers.
    let d = 1 + 4 * (s * s - s + 2 * (k - reaches_ceiling));
    let root = d.isqrt();
    let w = if root * root == d {
        (root + 2) / 2
    } else {
        (root + 3) / 2
    };
    w.min(u64::from(MAX_CWND)) as u32
}

/// The kernel's reading: with `start_cwnd < ssthresh`, the window stays at `s` one ack longer.
fn kernel_cwnd(p: &WindowParams, k: u64) -> u32 {
    let s = p.slow_start_ceiling();
    let reaches_ceiling = p.tcp_base + u64::from(s - p.start_window());
    if p.start_window() < s && k > reaches_ceiling {
        p.cwnd(k - 1)
    } else {
        p.cwnd(k)
    }
}

const NS3: ClosedForm = ClosedForm {
    cwnd: ns3_cwnd,
    normal_step: |p, k| step_with(ns3_cwnd, p, k),
};

const KERNEL: ClosedForm = ClosedForm {
    cwnd: kernel_cwnd,
    normal_step: |p, k| step_with(kernel_cwnd, p, k),
};

/// Slow start from 2 to 8, then avoidance: the second test vector of §3.3, continued.
fn slow_start_into_avoidance() -> Scenario {
    Scenario {
        initial: WindowParams {
            tcp_base: 1,
            start_cwnd: 2,
            ssthresh: 8,
            max_cwnd: trickles::cc::MAX_CWND,
        },
        events: vec![Event::Deliver(60)],
    }
}

#[test]
fn the_rewritten_normal_step_agrees_with_the_crate() {
    let form = ClosedForm {
        cwnd: WindowParams::cwnd,
        normal_step: |p, k| step_with(WindowParams::cwnd, p, k),
    };
    compare(&slow_start_into_avoidance(), form).expect("same trajectory");
    compare(&long_connection(), form).expect("same trajectory");
}

#[test]
fn ns3_reading_of_the_closed_form_fails_the_comparison() {
    let why = compare(&slow_start_into_avoidance(), NS3).expect_err("ns-3 skips a window value");
    assert!(
        why.contains("after ack 14: trickles cwnd 8, reno 9"),
        "{why}"
    );
}

#[test]
fn kernel_plateau_quirk_fails_the_comparison() {
    let why = compare(&slow_start_into_avoidance(), KERNEL).expect_err("kernel plateau is longer");
    assert!(
        why.contains("after ack 14: trickles cwnd 8, reno 9"),
        "{why}"
    );
}
