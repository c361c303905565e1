//! The server step: what one request releases, as a pure function of the continuation it
//! returns, its verified proof and the time. This is where a Trickles server "remembers"
//! TCP: normal step (§3.2 of the reference), stateless fast recovery (§3.7) and slow-start
//! restart after a timeout (§3.8), all through the closed-form window of [`crate::cc`].
//!
//! Every replica computes the same emissions for the same request: nothing here depends on
//! anything but its arguments.

use crate::cc::{self, WindowParams};
use crate::wire::{ContState, Continuation, RequestKind};

use super::proof::Proof;

/// One packet the step releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Emission {
    /// Its sequence number (its data follows from the stream mapping).
    pub seq: u64,
    /// State of the continuation it carries.
    pub state: ContState,
    /// Window parameters of that continuation.
    pub params: WindowParams,
    /// Recovery bookkeeping carried along.
    pub first_loss: u64,
    /// First seq of the post-loss window.
    pub first_bootstrap_seq: u64,
    /// Whether it resends a lost packet.
    pub retransmission: bool,
    /// The acknowledgement that releases it: the request's own seq, or for a post-loss packet
    /// released on behalf of a lost packet, that lost seq (§6.3).
    pub ack: u64,
}

/// Why a step releases nothing although the request was valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// The window would release more than `cc::MAX_PACKETS_PER_REQUEST` packets.
    Window,
    /// The hole to retransmit exceeds `cc::MAX_GAP`: left to the timeout path.
    GapTooLarge,
}

/// Window parameters of a continuation.
pub fn params_of(c: &Continuation<'_>) -> WindowParams {
    WindowParams {
        tcp_base: c.tcp_base,
        start_cwnd: c.start_cwnd,
        ssthresh: c.ssthresh,
        max_cwnd: c.window_cap,
    }
}

/// Decide what request `kind` with continuation `c` and proof `proof` releases. Emissions past
/// the end of the stream are dropped.
pub fn decide(
    c: &Continuation<'_>,
    kind: RequestKind,
    proof: &Proof,
    out: &mut Vec<Emission>,
) -> Result<(), StepError> {
    let last = c.last_seq();
    let start = out.len();
    match kind {
        RequestKind::SlowStart => slow_start(c, proof, out),
        RequestKind::Normal => match c.state {
            ContState::Recovery => {}
            ContState::Normal | ContState::Bootstrap => {
                let p = params_of(c);
                if proof.covers(p.tcp_base, c.seq) {
                    if c.state == ContState::Bootstrap && c.seq == p.tcp_base {
                        old_window_tail(c, proof, out);
                    }
                    normal(c, out)?;
                } else {
                    recovery(c, proof, out)?;
                }
            }
        },
    }
    let mut i = start;
    while i < out.len() {
        if out[i].seq > last || out[i].seq < c.data_base {
            out.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn normal(c: &Continuation<'_>, out: &mut Vec<Emission>) -> Result<(), StepError> {
    let p = params_of(c);
    let range = cc::normal_step(&p, c.seq).ok_or(StepError::Window)?;
    out.extend(range.map(|seq| Emission {
        seq,
        state: ContState::Normal,
        params: p,
        first_loss: c.first_loss,
        first_bootstrap_seq: c.first_bootstrap_seq,
        retransmission: false,
        ack: c.seq,
    }));
    Ok(())
}

fn recovery(c: &Continuation<'_>, proof: &Proof, out: &mut Vec<Emission>) -> Result<(), StepError> {
    let p = params_of(c);
    let first_loss = proof.first_missing_from(p.tcp_base);
    let plan = cc::recovery_plan(&p, first_loss);
    let bootstrap = |seq, ack| Emission {
        seq,
        state: ContState::Bootstrap,
        params: plan.bootstrap,
        first_loss,
        first_bootstrap_seq: plan.bootstrap.tcp_base,
        retransmission: false,
        ack,
    };
    if let Some((lo, hi)) = proof.hole_before(c.seq, p.tcp_base) {
        if hi - lo + 1 > cc::MAX_GAP {
            return Err(StepError::GapTooLarge);
        }
        for lost in lo..=hi {
            out.push(Emission {
                seq: lost,
                state: ContState::Recovery,
                params: plan.bootstrap,
                first_loss,
                first_bootstrap_seq: plan.bootstrap.tcp_base,
                retransmission: true,
                ack: c.seq,
            });
            if let Some(seq) = plan.bootstrap_seq_for_ack(lost) {
                out.push(bootstrap(seq, lost));
            }
        }
    }
    if let Some(seq) = plan.bootstrap_seq_for_ack(c.seq) {
        out.push(bootstrap(seq, c.seq));
    }
    Ok(())
}

/// The request for the first packet after a recovery (state bootstrap, `seq == tcp_base`)
/// also answers for the end of the window before it: no request of that window comes after
/// a hole at its very end, so nothing else retransmits it, and the post-loss packets its acks
/// would have released were never sent. If the proof shows such a hole right below `tcp_base`
/// (within the recovery, at most `MAX_GAP` packets), this request resends it and releases
/// those packets, as the first request after the hole would have (§3.7 of the reference; the
/// plan is rebuilt from the epoch's parameters). They come before the request's own packet,
/// which is the first of the next window, so they arrive in order.
fn old_window_tail(c: &Continuation<'_>, proof: &Proof, out: &mut Vec<Emission>) {
    let p = params_of(c);
    let plan = cc::RecoveryPlan::from_bootstrap(&p, c.first_loss);
    let Some((lo, hi)) = proof.hole_right_below(c.seq) else {
        return;
    };
    let lo = lo.max(plan.first_loss);
    if lo > hi || hi - lo + 1 > cc::MAX_GAP {
        return;
    }
    for lost in lo..=hi {
        out.push(Emission {
            seq: lost,
            state: ContState::Recovery,
            params: p,
            first_loss: c.first_loss,
            first_bootstrap_seq: p.tcp_base,
            retransmission: true,
            ack: c.seq,
        });
        if let Some(seq) = plan.bootstrap_seq_for_ack(lost) {
            out.push(Emission {
                seq,
                state: ContState::Bootstrap,
                params: p,
                first_loss: c.first_loss,
                first_bootstrap_seq: p.tcp_base,
                retransmission: false,
                ack: lost,
            });
        }
    }
}

fn slow_start(c: &Continuation<'_>, proof: &Proof, out: &mut Vec<Emission>) {
    let p = params_of(c);
    let right = proof.contiguous_end_from(p.tcp_base);
    let plan = cc::slow_start_plan(&p, right);
    out.extend(plan.emit.map(|seq| Emission {
        seq,
        state: ContState::Normal,
        params: plan.params,
        first_loss: 0,
        first_bootstrap_seq: 0,
        retransmission: false,
        ack: c.seq,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SackBlock;

    fn cont(seq: u64, tcp_base: u64, cwnd: u32, ssthresh: u32) -> Continuation<'static> {
        Continuation {
            epoch: 0,
            state: ContState::Normal,
            seq,
            timestamp: 0,
            mrtt: 0,
            tcp_base,
            start_cwnd: cwnd,
            ssthresh,
            first_loss: 0,
            first_bootstrap_seq: 0,
            token_base: 1,
            data_base: 1,
            start_offset: 0,
            total_len: 10_000_000,
            mss: 1000,
            window_cap: 8191,
            ucont: b"",
        }
    }

    fn proof(blocks: &[(u64, u64)]) -> Proof {
        Proof::from_blocks(
            blocks
                .iter()
                .map(|&(left, right)| SackBlock {
                    left,
                    right,
                    summary: 0,
                })
                .collect(),
        )
    }

    fn seqs(c: &Continuation<'_>, kind: RequestKind, p: &Proof) -> Vec<u64> {
        let mut out = Vec::new();
        decide(c, kind, p, &mut out).unwrap();
        out.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn initial_window_grows_as_slow_start() {
        // TCPBase 1, startCwnd 3: request 1 releases 4, request 2 releases 5 and 6 (split).
        let p = proof(&[(1, 10)]);
        assert_eq!(
            seqs(&cont(1, 1, 3, 0x3FFF), RequestKind::Normal, &p),
            vec![4]
        );
        assert_eq!(
            seqs(&cont(2, 1, 3, 0x3FFF), RequestKind::Normal, &p),
            vec![5, 6]
        );
    }

    #[test]
    fn worked_recovery_example_of_the_reference() {
        // Window 10 at TCPBase 90 (ssthresh = 10, no growth for this window), packet 100 lost.
        let p = proof(&[(1, 99), (101, 109)]);
        let c = |seq| cont(seq, 90, 10, 10);
        // Request 101 is the first after the hole: retransmits 100.
        assert_eq!(seqs(&c(101), RequestKind::Normal, &p), vec![100]);
        assert_eq!(seqs(&c(102), RequestKind::Normal, &p), Vec::<u64>::new());
        assert_eq!(seqs(&c(103), RequestKind::Normal, &p), Vec::<u64>::new());
        for (k, s) in (104..=108).zip(110..) {
            assert_eq!(seqs(&c(k), RequestKind::Normal, &p), vec![s], "request {k}");
        }
        assert_eq!(seqs(&c(109), RequestKind::Normal, &p), Vec::<u64>::new());
    }

    #[test]
    fn retransmission_carries_a_recovery_continuation_that_releases_nothing() {
        let p = proof(&[(1, 99), (101, 109)]);
        let mut out = Vec::new();
        decide(&cont(101, 90, 10, 10), RequestKind::Normal, &p, &mut out).unwrap();
        assert_eq!(out[0].state, ContState::Recovery);
        assert!(out[0].retransmission);
        let mut c = cont(100, out[0].params.tcp_base, 5, 5);
        c.state = ContState::Recovery;
        assert_eq!(
            seqs(&c, RequestKind::Normal, &proof(&[(1, 109)])),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn the_first_request_after_a_recovery_resends_a_lost_end_of_the_old_window() {
        // The example's plan (packet 100 lost, window 10 → 5, new epoch 110 with bootstrap acks
        // 104..=108) and the old window's last two packets, 108 and 109, lost as well: the
        // request of 110 resends them and releases 114, 108's post-loss packet, before its own.
        let mut c = cont(110, 110, 5, 5);
        c.state = ContState::Bootstrap;
        c.first_loss = 100;
        let p = proof(&[(1, 99), (101, 107), (110, 110)]);
        let mut out = Vec::new();
        decide(&c, RequestKind::Normal, &p, &mut out).unwrap();
        let got: Vec<(u64, bool)> = out.iter().map(|e| (e.seq, e.retransmission)).collect();
        assert_eq!(
            got,
            vec![(108, true), (114, false), (109, true), (115, false)]
        );
        // Nothing lost at the end: only the normal step.
        let p = proof(&[(1, 99), (101, 110)]);
        assert_eq!(seqs(&c, RequestKind::Normal, &p), vec![115]);
        // A normal-state continuation at its epoch's base is not a recovery's first packet.
        c.state = ContState::Normal;
        let p = proof(&[(1, 99), (101, 107), (110, 110)]);
        assert_eq!(seqs(&c, RequestKind::Normal, &p), vec![115]);
    }

    #[test]
    fn slow_start_restarts_two_packets_after_the_contiguous_run() {
        let p = proof(&[(1, 49), (60, 70)]);
        assert_eq!(
            seqs(&cont(40, 30, 10, 10), RequestKind::SlowStart, &p),
            vec![50, 51]
        );
    }

    #[test]
    fn nothing_is_released_past_the_end_of_the_stream() {
        let mut c = cont(2, 1, 3, 0x3FFF);
        c.total_len = 4500; // 5 packets of 1000
        assert_eq!(seqs(&c, RequestKind::Normal, &proof(&[(1, 2)])), vec![5]);
    }
}
