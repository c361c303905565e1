//! The misbehaving clients: one client that keeps every packet it receives (continuation and
//! nonce) and uses them as its [`Mode`] says, within what the wire lets it forge (nothing: it
//! can only choose which continuations to return, what kind of request, which attempt number,
//! which of its packets to prove, and where to send).

use std::collections::BTreeMap;

use trickles::time::{Duration, Instant};
use trickles::wire::{
    ContState, Header, HelloRepr, RequestKind, RequestRepr, ResponseRepr, SackBlock,
};

use super::harness::{Peer, OBJECT, ONE_WAY, RECEIVE_WINDOW};

/// How the client misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No normal request at all: a slow-start restart from every continuation received, with
    /// every attempt number as soon as the server's backoff allows it.
    RestartFlood,
    /// Requests for every packet as an honest client would send them with no loss, plus a
    /// restart flood from every continuation.
    RequestsAndRestarts,
    /// Under-reported proofs (below) plus restarts from every retransmitted continuation.
    RestartsFromRetransmissions,
    /// A request for every packet whose proof leaves out the 20 packets below it, the largest
    /// hole the server resends (once 20 packets of the continuation's epoch lie below it;
    /// before, an honest proof).
    UnderReport,
    /// The same for one request in 8, honest proofs in the others (the window keeps growing).
    UnderReportSparse,
    /// Sparse under-reported proofs plus restarts from every retransmitted continuation.
    SparseUnderReportAndRestarts,
    /// A request for every packet claiming 50 packets beyond the highest received, with the
    /// best summary it can make (the nonces of the packets it has).
    Optimistic,
    /// A request for every packet, proving everything, sent to every replica.
    ReplayToReplicas,
}

struct Held {
    sealed: Vec<u8>,
    timestamp: u64,
    /// The next attempt number to try.
    next: u8,
    retransmission: bool,
}

/// A client misbehaving as `mode` says, against `replicas` replicas.
pub struct Attacker {
    mode: Mode,
    replicas: usize,
    nonces: BTreeMap<u64, u32>,
    /// Runs of received seqs: left → (right, XOR of their packet nonces).
    runs: BTreeMap<u64, (u64, u32)>,
    held: Vec<Held>,
    tick: Option<Instant>,
    normal_requests: u64,
}

/// How often the flood looks for continuations old enough for their next attempt.
const TICK: Duration = Duration(10_000);
/// The largest hole the server resends (`cc::MAX_GAP`).
const GAP: u64 = 20;

impl Attacker {
    pub fn new(mode: Mode, replicas: usize) -> Self {
        Attacker {
            mode,
            replicas,
            nonces: BTreeMap::new(),
            runs: BTreeMap::new(),
            held: Vec::new(),
            tick: None,
            normal_requests: 0,
        }
    }

    fn record(&mut self, seq: u64, nonce: u32) {
        if self.nonces.insert(seq, nonce).is_some() {
            return;
        }
        let mut left = seq;
        let mut right = seq;
        let mut summary = nonce;
        if let Some((&l, &(r, s))) = self.runs.range(..seq).next_back() {
            if r + 1 == seq {
                self.runs.remove(&l);
                left = l;
                summary ^= s;
            }
        }
        if let Some((r, s)) = self.runs.remove(&(seq + 1)) {
            right = r;
            summary ^= s;
        }
        self.runs.insert(left, (right, summary));
    }

    fn xor(&self, from: u64, to: u64) -> u32 {
        self.nonces.range(from..=to).fold(0, |x, (_, n)| x ^ n)
    }

    /// Every run, except the seqs in `omit`; the first and the last 31 if there are more.
    fn proof(&self, omit: Option<(u64, u64)>) -> Vec<SackBlock> {
        let mut blocks = Vec::new();
        for (&left, &(right, summary)) in &self.runs {
            match omit {
                Some((lo, hi)) if lo <= right && left <= hi => {
                    let upper = (hi < right).then(|| (hi + 1, right, self.xor(hi + 1, right)));
                    let middle = self.xor(lo.max(left), hi.min(right));
                    if lo > left {
                        let s = summary ^ middle ^ upper.map_or(0, |u| u.2);
                        blocks.push(SackBlock {
                            left,
                            right: lo - 1,
                            summary: s,
                        });
                    }
                    if let Some((l, r, s)) = upper {
                        blocks.push(SackBlock {
                            left: l,
                            right: r,
                            summary: s,
                        });
                    }
                }
                _ => blocks.push(SackBlock {
                    left,
                    right,
                    summary,
                }),
            }
        }
        if blocks.len() > 32 {
            let tail = blocks.split_off(blocks.len() - 31);
            blocks.truncate(1);
            blocks.extend(tail);
        }
        blocks
    }

    fn send(
        &self,
        kind: RequestKind,
        attempt: u8,
        sealed: &[u8],
        proof: &[SackBlock],
        out: &mut Vec<(usize, Vec<u8>)>,
    ) {
        if proof.is_empty() {
            return;
        }
        let d = RequestRepr::emit(99, kind, attempt, 1, sealed, proof);
        let targets = if self.mode == Mode::ReplayToReplicas {
            self.replicas
        } else {
            1
        };
        for r in 0..targets {
            out.push((r, d.clone()));
        }
    }

    fn restarts(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        let only_retransmissions = matches!(
            self.mode,
            Mode::RestartsFromRetransmissions | Mode::SparseUnderReportAndRestarts
        );
        let proof = self.proof(None);
        let mut requests = Vec::new();
        for h in &mut self.held {
            if only_retransmissions && !h.retransmission {
                continue;
            }
            // Its age when the restart arrives.
            let age = (now + ONE_WAY).micros().saturating_sub(h.timestamp);
            while h.next <= 12 && age >= 100_000 << h.next {
                requests.push((h.next, h.sealed.clone()));
                h.next += 1;
            }
        }
        for (a, sealed) in requests {
            self.send(RequestKind::SlowStart, a, &sealed, &proof, out);
        }
    }
}

impl Peer for Attacker {
    fn start(&mut self, _now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        let hello = HelloRepr {
            conn_id: 99,
            resume_offset: 0,
            receive_window: RECEIVE_WINDOW,
            request: OBJECT,
        }
        .emit(1400);
        out.push((0, hello));
    }

    fn on_datagram(&mut self, now: Instant, datagram: &[u8], out: &mut Vec<(usize, Vec<u8>)>) {
        let Ok((h, body)) = Header::parse(datagram) else {
            return;
        };
        let Ok(r) = ResponseRepr::parse(&h, body) else {
            return;
        };
        let c = r.continuation.fields;
        let (seq, tcp_base, state) = (c.seq, c.tcp_base, c.state);
        let sealed = r.continuation_bytes.to_vec();
        self.record(seq, r.nonce);
        let retransmission = r.flags & 0x02 != 0;
        self.held.push(Held {
            sealed: sealed.clone(),
            timestamp: c.timestamp,
            next: 0,
            retransmission,
        });
        let requests = state != ContState::Recovery && self.mode != Mode::RestartFlood;
        if requests {
            self.normal_requests += 1;
            let sparse = self.normal_requests & 7 == 0;
            let proof = match self.mode {
                // Once the hole can be the largest, the proof leaves it out.
                Mode::UnderReport | Mode::RestartsFromRetransmissions if seq >= tcp_base + GAP => {
                    self.proof(Some((seq - GAP, seq - 1)))
                }
                Mode::UnderReportSparse | Mode::SparseUnderReportAndRestarts
                    if sparse && seq >= tcp_base + GAP =>
                {
                    self.proof(Some((seq - GAP, seq - 1)))
                }
                Mode::Optimistic => {
                    let top = *self.nonces.keys().next_back().unwrap();
                    vec![SackBlock {
                        left: tcp_base,
                        right: top + 50,
                        summary: self.xor(tcp_base, top),
                    }]
                }
                _ => self.proof(None),
            };
            self.send(RequestKind::Normal, 0, &sealed, &proof, out);
        }
        if matches!(
            self.mode,
            Mode::RestartFlood
                | Mode::RequestsAndRestarts
                | Mode::RestartsFromRetransmissions
                | Mode::SparseUnderReportAndRestarts
        ) {
            self.tick.get_or_insert(now + TICK);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tick
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        self.restarts(now, out);
        self.tick = Some(now + TICK);
    }
}
