//! [`ClientConnection`]: one Trickles transfer, driven by datagrams and timeouts.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use crate::cc::WindowParams;
use crate::time::{Duration, Instant};
use crate::transmit::Transmit;
use crate::wire::hello::MAX_HELLO_PADDING;
use crate::wire::refuse::{CODE_HELLO_TOO_SMALL, CODE_SERVER_UNREACHABLE};
use crate::wire::response::FLAG_RETRANSMISSION;
use crate::wire::sack::SackBlock;
use crate::wire::{
    ContState, Header, HelloRepr, PacketType, RefuseRepr, RequestKind, RequestRepr, ResponseRepr,
};

use super::config::{ClientConfig, ClientError, ClientStats, ClientStatus};
use super::flight::{Flight, Forecast};
use super::reassembly::Reassembly;
use super::receipts::Receipts;
use super::rtt::RttEstimator;
use super::unreachable::{Reaction, UnreachablePacer};

/// Epochs remembered by [`ClientConnection::note_epoch`]: an epoch changes at most once a
/// round trip, and packets of older ones are long out of the network.
const RECENT_EPOCHS: usize = 4;

/// The stream mapping and nonce stream of the current incarnation (one HELLO's answer).
#[derive(Clone, Copy, Debug)]
struct Incarnation {
    token_base: u64,
    data_base: u64,
    start_offset: u64,
    mss: u64,
}

/// A continuation waiting to be handed back.
#[derive(Clone, Debug)]
struct HeldContinuation {
    sealed: Vec<u8>,
    params: WindowParams,
    requestable: bool,
}

/// The continuation kept for a slow-start restart.
#[derive(Clone, Debug)]
struct RestartContinuation {
    sealed: Vec<u8>,
    tcp_base: u64,
    timestamp: u64,
    received_at: Instant,
    attempts: u8,
}

/// One Trickles transfer (see the module doc of [`crate::client`]).
#[derive(Debug)]
pub struct ClientConnection {
    conn_id: u64,
    /// Every replica the connection may use, best first (never empty: the server given to
    /// [`Self::new`] alone, unless [`Self::with_replicas`] gave more), and which one it uses now.
    replicas: Vec<SocketAddr>,
    replica: usize,
    request: Vec<u8>,
    config: ClientConfig,
    status: ClientStatus,
    total_len: Option<u64>,
    incarnation: Option<Incarnation>,
    retired_tokens: Vec<u64>,
    resume_offset: u64,
    hello_attempts: u32,
    receipts: Receipts,
    held: BTreeMap<u64, HeldContinuation>,
    ack_next: u64,
    restart: Option<RestartContinuation>,
    /// The last few epochs (`tcp_base`) requests were sent for, newest last: packets released
    /// by them may still be in flight, and their requests will prove from those epochs.
    recent_epochs: VecDeque<u64>,
    flight: Flight,
    outbox: VecDeque<Vec<u8>>,
    rtt: RttEstimator,
    backoff: u32,
    timeouts_without_progress: u32,
    deadline: Option<Instant>,
    reassembly: Reassembly,
    stats: ClientStats,
    proof: Vec<SackBlock>,
    last_now: Instant,
    reader_progressed: bool,
    unreachable: UnreachablePacer,
}

impl ClientConnection {
    /// Open a connection to `server` asking for `request` (the path, for the web server).
    pub fn new(
        now: Instant,
        server: SocketAddr,
        request: Vec<u8>,
        config: ClientConfig,
        conn_id: u64,
    ) -> Self {
        let rtt = RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto);
        let mut c = ClientConnection {
            conn_id,
            replicas: vec![server],
            replica: 0,
            request,
            config,
            status: ClientStatus::Connecting,
            total_len: None,
            incarnation: None,
            retired_tokens: Vec::new(),
            resume_offset: 0,
            hello_attempts: 0,
            receipts: Receipts::default(),
            held: BTreeMap::new(),
            ack_next: 0,
            restart: None,
            recent_epochs: VecDeque::new(),
            flight: Flight::default(),
            outbox: VecDeque::new(),
            rtt,
            backoff: 0,
            timeouts_without_progress: 0,
            deadline: None,
            reassembly: Reassembly::starting_at(0),
            stats: ClientStats::default(),
            proof: Vec::new(),
            last_now: now,
            reader_progressed: false,
            unreachable: UnreachablePacer::default(),
        };
        c.send_hello(now);
        c
    }

    /// Lets the connection move among `replicas` (best first; the server given to
    /// [`Self::new`] is taken to be the first): whenever the server proves unreachable (an
    /// unreachable acted on, or a retransmission timeout) the connection moves to the next one,
    /// cyclically, and resumes there at the first byte it lacks. Any replica holding the key
    /// resumes any continuation, so nothing is lost but the round trip.
    pub fn with_replicas(mut self, replicas: Vec<SocketAddr>) -> Self {
        if !replicas.is_empty() {
            let server = self.server();
            self.replica = replicas.iter().position(|&r| r == server).unwrap_or(0);
            self.replicas = replicas;
        }
        self
    }

    /// Where the connection sends now.
    pub fn server(&self) -> SocketAddr {
        self.replicas[self.replica]
    }

    /// The connection id.
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }

    /// Where the connection stands.
    pub fn status(&self) -> ClientStatus {
        self.status.clone()
    }

    /// Length of the stream, once the first packet told it.
    pub fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        let mut s = self.stats.clone();
        s.srtt_micros = self.rtt.srtt().map_or(0, |d| d.micros());
        s
    }

    /// Stream bytes held in the receive buffer (received, not yet read).
    pub fn buffered_bytes(&self) -> usize {
        self.reassembly.buffered()
    }

    /// Bytes received in order so far (read or not).
    pub fn bytes_in_order(&self) -> u64 {
        self.reassembly.contiguous_end()
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.reader_progressed {
            // Requests held for flow control go out now that the reader made room.
            self.reader_progressed = false;
            self.last_now = now;
            self.send_held_requests();
        }
        self.outbox.pop_front().map(|payload| Transmit {
            destination: self.server(),
            payload,
        })
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.status {
            ClientStatus::Connecting | ClientStatus::Transferring => {
                match (self.deadline, self.unreachable.deferred_until()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            ClientStatus::Done | ClientStatus::Failed(_) => None,
        }
    }

    /// Copy received in-order bytes into `buf`; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.reassembly.read(buf);
        self.reader_progressed |= n > 0;
        n
    }

    /// Feed one datagram (from any address: replicas answer from their own; only the notice
    /// that the server is unreachable must come from the address we send to).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.last_now = now;
        let Ok((header, body)) = Header::parse(datagram) else {
            return;
        };
        if header.conn_id != self.conn_id
            || matches!(self.status, ClientStatus::Done | ClientStatus::Failed(_))
        {
            return;
        }
        match header.packet_type {
            PacketType::Response => {
                if let Ok(r) = ResponseRepr::parse(&header, body) {
                    self.on_response(now, &r);
                }
            }
            PacketType::Refuse => {
                if let Ok(r) = RefuseRepr::parse(&header, body) {
                    if r.code == CODE_SERVER_UNREACHABLE {
                        self.on_server_unreachable_notice(now, from);
                        return;
                    }
                    if r.code == CODE_HELLO_TOO_SMALL
                        && self.status == ClientStatus::Connecting
                        && self.config.hello_padding < MAX_HELLO_PADDING
                    {
                        // The server uses large packets (e.g. jumbo frames): a larger HELLO
                        // buys its first window under the 3x anti-amplification rule.
                        self.config.hello_padding = MAX_HELLO_PADDING;
                        self.send_hello(now);
                        return;
                    }
                    self.status = ClientStatus::Failed(ClientError::Refused {
                        code: r.code,
                        message: String::from_utf8_lossy(r.message).into_owned(),
                    });
                }
            }
            PacketType::Hello | PacketType::Request => {}
        }
    }

    /// The timer fired: resend the HELLO, flush held requests, or restart the window.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        let live = matches!(
            self.status,
            ClientStatus::Connecting | ClientStatus::Transferring
        );
        if live {
            if let Some(reaction) = self.unreachable.take_deferred(now, self.rtt.rto(0)) {
                self.react_to_unreachable(now, reaction);
            }
        }
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        match self.status {
            ClientStatus::Connecting => {
                if self.hello_attempts >= self.config.max_hello_attempts {
                    self.status = ClientStatus::Failed(ClientError::Timeout("no answer to HELLO"));
                    return;
                }
                self.backoff += 1;
                self.move_to_next_replica();
                self.send_hello(now);
            }
            ClientStatus::Transferring => self.on_transfer_timeout(now),
            ClientStatus::Done | ClientStatus::Failed(_) => {}
        }
    }

    /// The network says the server cannot be reached: an ICMP port (or host) unreachable for
    /// a datagram of ours sent to `destination`, of which `quoted` is what the error carries (the
    /// driver reads both from its socket's error queue). Acted on only when `destination` is
    /// the server the connection uses now and `quoted` is one of its HELLOs or requests, at
    /// most once per pacing gap ([`super::unreachable`]): then it moves to the next replica, if
    /// it has several ([`Self::with_replicas`]), and resumes there at once (a new HELLO at the
    /// first byte it lacks), without counting toward giving up and without moving the timer.
    /// Returns whether it was acted on.
    pub fn handle_unreachable(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        quoted: &[u8],
    ) -> bool {
        self.last_now = now;
        let ours = destination == self.server()
            && Header::parse(quoted).is_ok_and(|(header, _)| {
                header.conn_id == self.conn_id
                    && matches!(header.packet_type, PacketType::Hello | PacketType::Request)
            });
        if !ours
            || !matches!(
                self.status,
                ClientStatus::Connecting | ClientStatus::Transferring
            )
        {
            return false;
        }
        self.react_if_paced(now)
    }

    /// A balancer in front of the server says the replica it forwarded our datagram to is
    /// unreachable (REFUSE code 6: the replica's host answered the balancer, not us, with
    /// "port unreachable"). Treated as that unreachable would be: acted on only when it comes
    /// from the address we send to, at the same bounded pace, and never the end of the
    /// connection (REFUSEs are not authenticated; a forged one costs a resumption at most).
    fn on_server_unreachable_notice(&mut self, now: Instant, from: SocketAddr) {
        if from != self.server() {
            return;
        }
        self.stats.unreachable_notices += 1;
        self.react_if_paced(now);
    }

    /// Acts on an unreachable (an ICMP error or a balancer's notice) if the pacing allows it
    /// now; otherwise counts it as paced. Returns whether it was acted on.
    fn react_if_paced(&mut self, now: Instant) -> bool {
        if !self.unreachable.allow(now, self.rtt.rto(0)) {
            self.stats.unreachables_paced += 1;
            return false;
        }
        self.react_to_unreachable(now, Reaction::Error);
        true
    }

    /// Sends at once what resumes the stream soonest: the HELLO again, or a new HELLO at the
    /// first byte we lack. Not a slow-start restart: the server refuses those from a
    /// continuation younger than its minimum restart age (100 ms), which a failure detected
    /// at once always is; a HELLO is what any new connection may send, answered with the
    /// initial window.
    fn react_to_unreachable(&mut self, now: Instant, reaction: Reaction) {
        self.stats.unreachables += 1;
        if reaction == Reaction::Error {
            self.move_to_next_replica();
        }
        let (deadline, before) = (self.deadline, self.status.clone());
        match self.status {
            ClientStatus::Connecting => {
                self.send_hello(now);
                // Not an attempt of the timer's: a forged error must not use up the HELLOs.
                self.hello_attempts -= 1;
            }
            _ => self.resume(now),
        }
        // The timer keeps its course (a flood of errors cannot postpone giving up); only a
        // resumption, which starts a new HELLO exchange, arms its own.
        if self.status == before {
            self.deadline = deadline;
        }
    }

    fn send_hello(&mut self, now: Instant) {
        let hello = HelloRepr {
            conn_id: self.conn_id,
            resume_offset: self.resume_offset,
            receive_window: u32::try_from(self.config.receive_window).unwrap_or(u32::MAX),
            request: &self.request,
        };
        self.outbox.push_back(hello.emit(self.config.hello_padding));
        self.hello_attempts += 1;
        self.stats.hellos_sent += 1;
        self.arm(now);
    }

    fn arm(&mut self, now: Instant) {
        self.deadline = Some(now + self.rtt.rto(self.backoff));
    }

    /// A response: the stream's bytes, and, when they advance the in-order frontier, the sign
    /// that the server is there. Packets beyond a hole are not that sign: after a server dies
    /// and is replaced, the requests lost with it leave a hole, and the replacement's answers
    /// to later requests land beyond it, while an unreachable heard for the lost ones waits.
    fn on_response(&mut self, now: Instant, r: &ResponseRepr<'_>) {
        let frontier = self.reassembly.contiguous_end();
        self.take_response(now, r);
        if self.reassembly.contiguous_end() > frontier {
            let srtt = self.rtt.srtt().unwrap_or(Duration(0));
            self.unreachable.answered(now, srtt, self.rtt.rto(0));
        }
    }

    fn take_response(&mut self, now: Instant, r: &ResponseRepr<'_>) {
        self.stats.packets_received += 1;
        let c = r.continuation.fields;
        if self.retired_tokens.contains(&c.token_base) {
            let _ = self.store_data(&c, r.data);
            return;
        }
        let inc = match self.incarnation {
            Some(inc) if inc.token_base == c.token_base => inc,
            Some(_) => {
                // A packet of a different incarnation than ours (should not happen): data only.
                let _ = self.store_data(&c, r.data);
                return;
            }
            None => self.adopt_incarnation(&c),
        };
        if r.flags & FLAG_RETRANSMISSION != 0 {
            self.stats.retransmissions += 1;
        } else if r.echo != 0 {
            let sent = r.echo;
            let elapsed = echo_clock(now).wrapping_sub(sent);
            if elapsed < 600_000 {
                self.rtt.sample(Duration(u64::from(elapsed) * 100));
            }
        }
        if !self.store_data(&c, r.data) {
            return;
        }
        let frontier_before = self.receipts.all().first_missing_from(inc.data_base);
        // Normal requests prove only packets that came as they were first expected: not a
        // retransmission, nor a first transmission arriving after its hole was declared lost
        // (every request past `ack_next` showed it missing; see `Receipts`).
        let provable = r.flags & FLAG_RETRANSMISSION == 0 && c.seq >= self.ack_next;
        let duplicate = !self.receipts.insert(c.seq, r.nonce, provable);
        if duplicate {
            self.stats.duplicate_packets += 1;
        }
        let frontier = self.receipts.all().first_missing_from(inc.data_base);
        let threshold = u64::from(self.config.reorder_threshold.max(1));
        let lost_below = self.receipts.all().nth_highest(threshold).unwrap_or(0);
        self.flight.arrived(c.seq, duplicate, lost_below, frontier);
        // The timer restarts when the first missing packet advances (TCP restarts its RTO when
        // new data is cumulatively acknowledged), so a hole that outlives an RTO is recovered by
        // a restart even while packets beyond it keep arriving.
        if frontier != frontier_before {
            self.backoff = 0;
            self.timeouts_without_progress = 0;
            self.arm(now);
        }
        if c.seq >= self.ack_next && !self.held.contains_key(&c.seq) {
            let params = WindowParams {
                tcp_base: c.tcp_base,
                start_cwnd: c.start_cwnd,
                ssthresh: c.ssthresh,
                max_cwnd: c.window_cap,
            };
            self.held.insert(
                c.seq,
                HeldContinuation {
                    sealed: r.continuation_bytes.to_vec(),
                    params,
                    requestable: c.state != ContState::Recovery,
                },
            );
        }
        if c.tcp_base <= frontier
            && self
                .restart
                .as_ref()
                .is_none_or(|k| c.timestamp >= k.timestamp)
        {
            self.restart = Some(RestartContinuation {
                sealed: r.continuation_bytes.to_vec(),
                tcp_base: c.tcp_base,
                timestamp: c.timestamp,
                received_at: now,
                attempts: 0,
            });
        }
        if self.reassembly.contiguous_end() >= self.total_len.unwrap_or(u64::MAX) {
            self.status = ClientStatus::Done;
            self.deadline = None;
            self.held.clear();
            return;
        }
        self.send_held_requests();
    }

    fn adopt_incarnation(&mut self, c: &crate::wire::Continuation<'_>) -> Incarnation {
        let inc = Incarnation {
            token_base: c.token_base,
            data_base: c.data_base,
            start_offset: c.start_offset,
            mss: u64::from(c.mss),
        };
        self.incarnation = Some(inc);
        self.total_len = Some(c.total_len);
        self.status = ClientStatus::Transferring;
        self.ack_next = c.data_base;
        self.hello_attempts = 0;
        inc
    }

    /// Store the packet's bytes; false if they fall outside the receive buffer (the packet is
    /// then treated as lost, so the transport never believes it holds bytes it dropped).
    fn store_data(&mut self, c: &crate::wire::Continuation<'_>, data: &[u8]) -> bool {
        let Some((offset, _)) = c.data_range(c.seq) else {
            return false;
        };
        let limit = self
            .reassembly
            .read_offset()
            .saturating_add(self.config.receive_window as u64);
        if offset >= limit {
            return false;
        }
        self.stats.bytes_received += self.reassembly.insert(offset, data) as u64;
        true
    }

    /// Whether the request for `seq` could release packets that would not fit the receive
    /// buffer. A window larger than the whole buffer is let through once the reader has caught
    /// up with `seq`, so flow control can slow a connection but never deadlock it.
    fn beyond_window(&self, seq: u64, params: &WindowParams) -> bool {
        let Some(inc) = self.incarnation else {
            return false;
        };
        let offset_of = |s: u64| {
            inc.start_offset
                .saturating_add(s.saturating_sub(inc.data_base).saturating_mul(inc.mss))
        };
        let release_hi = seq.saturating_add(u64::from(params.cwnd(seq)));
        let needed =
            offset_of(release_hi.saturating_add(1)).saturating_sub(self.reassembly.read_offset());
        needed > self.config.receive_window as u64 && self.reassembly.read_offset() < offset_of(seq)
    }

    /// Send the held requests that are next in sequence order; skip a hole once the
    /// reordering threshold says it is lost.
    fn send_held_requests(&mut self) {
        loop {
            if let Some(h) = self.held.get(&self.ack_next) {
                let seq = self.ack_next;
                if h.requestable {
                    if self.beyond_window(seq, &h.params) {
                        return;
                    }
                    let tcp_base = h.params.tcp_base;
                    let kind = RequestKind::Normal;
                    self.receipts.proof(kind, tcp_base, seq, &mut self.proof);
                    let forecast = Forecast::of(&h.sealed, kind, &self.proof).unwrap_or_default();
                    if !self.flight.admits(&forecast) {
                        return;
                    }
                    let sealed = std::mem::take(&mut self.held.get_mut(&seq).expect("held").sealed);
                    self.send_request(kind, 0, &sealed, tcp_base, seq);
                }
                self.held.remove(&seq);
                self.ack_next += 1;
                continue;
            }
            if !self.hole_is_lost() {
                return;
            }
            let Some((&next, _)) = self.held.range(self.ack_next..).next() else {
                return;
            };
            let data_base = self.incarnation.map_or(0, |inc| inc.data_base);
            let frontier = self.receipts.all().first_missing_from(data_base);
            self.flight.declared_lost(self.ack_next..next, frontier);
            self.ack_next = next;
            self.stats.loss_events += 1;
        }
    }

    /// Whether the hole at `ack_next` is lost: `reorder_threshold` packets above it have
    /// arrived (RFC 6675's `IsLost`, TCP's duplicate-ack threshold counted in SACKed packets).
    /// Every packet received at or above `ack_next` is held, so they are counted there. After
    /// a burst of losses the packets above the next hole are already here and none may come
    /// later to be counted (the server waits for these very requests), so counting only
    /// arrivals since the previous hole would leave the window's requests held until a timeout.
    fn hole_is_lost(&self) -> bool {
        let threshold = self.config.reorder_threshold.max(1) as usize;
        self.held
            .range(self.ack_next..)
            .nth(threshold - 1)
            .is_some()
    }

    /// Send a request of `kind` for the continuation `sealed` (TCPBase `tcp_base`, seq `seq`)
    /// with the proof of what we hold, and count what it releases as in flight.
    fn send_request(
        &mut self,
        kind: RequestKind,
        attempt: u8,
        sealed: &[u8],
        tcp_base: u64,
        seq: u64,
    ) {
        self.receipts.proof(kind, tcp_base, seq, &mut self.proof);
        if self.proof.is_empty() {
            return;
        }
        if let Some(forecast) = Forecast::of(sealed, kind, &self.proof) {
            self.flight.sent(&forecast);
        }
        let echo = echo_clock_nonzero(self.last_now);
        let datagram = RequestRepr::emit(self.conn_id, kind, attempt, echo, sealed, &self.proof);
        self.outbox.push_back(datagram);
        self.stats.requests_sent += 1;
        if kind == RequestKind::Normal {
            self.note_epoch(tcp_base);
        }
    }

    /// Remember that a request of the epoch starting at `tcp_base` was sent, and let the
    /// receipts forget what no request of the recent epochs, nor of a held continuation, needs.
    fn note_epoch(&mut self, tcp_base: u64) {
        if self.recent_epochs.back() == Some(&tcp_base) {
            return;
        }
        self.recent_epochs.retain(|&e| e != tcp_base);
        self.recent_epochs.push_back(tcp_base);
        if self.recent_epochs.len() > RECENT_EPOCHS {
            self.recent_epochs.pop_front();
        }
        let held = self.held.values().map(|h| h.params.tcp_base);
        if let Some(oldest) = self.recent_epochs.iter().copied().chain(held).min() {
            self.receipts.forget_epochs_before(oldest);
        }
    }

    fn on_transfer_timeout(&mut self, now: Instant) {
        self.timeouts_without_progress += 1;
        if self.timeouts_without_progress > self.config.max_timeouts {
            self.status = ClientStatus::Failed(ClientError::Timeout("no progress"));
            return;
        }
        self.backoff += 1;
        // Application-limited, not network-limited: nothing is missing, the reader is slow.
        if let Some(h) = self.held.get(&self.ack_next) {
            if h.requestable
                && !self.reassembly.has_hole()
                && self.beyond_window(self.ack_next, &h.params)
            {
                self.timeouts_without_progress = 0;
                self.backoff = 0;
                self.arm(now);
                return;
            }
        }
        self.stats.timeouts += 1;
        self.move_to_next_replica();
        self.restart_window(now);
    }

    /// With several replicas, the next one (cyclically) becomes the server.
    fn move_to_next_replica(&mut self) {
        if self.replicas.len() > 1 {
            self.replica = (self.replica + 1) % self.replicas.len();
            self.stats.replica_moves += 1;
        }
    }

    /// As TCP's RTO: whatever is in flight is presumed lost; restart the window at the first
    /// packet we lack (held requests are dropped: the restart re-sends their packets), or resume
    /// the stream with a HELLO when the restart continuation is too old, used up, or too young
    /// for the server to accept it for this attempt (it would be dropped as too early, and the
    /// stall would last another, doubled, RTO).
    fn restart_window(&mut self, now: Instant) {
        // Its age when the restart reaches the server: since we received it, plus about a
        // round trip (issued half a round trip before, arriving half a round trip after); half
        // the smoothed RTT errs toward resuming.
        let half_rtt = self.rtt.srtt().map_or(0, |d| d.micros() / 2);
        let usable = self.restart.as_ref().is_some_and(|r| {
            let age = now.saturating_since(r.received_at).micros();
            r.attempts <= crate::cc::MAX_RESTART_ATTEMPT
                && age * 4 < self.config.freshness.micros() * 3
                && age + half_rtt >= self.config.min_restart_age.micros() << r.attempts
        });
        if !usable {
            self.resume(now);
            return;
        }
        let Some(mut r) = self.restart.take() else {
            return;
        };
        let restart_at = self.receipts.all().first_missing_from(r.tcp_base);
        self.flight.clear();
        self.send_request(
            RequestKind::SlowStart,
            r.attempts,
            &r.sealed,
            r.tcp_base,
            restart_at.saturating_sub(1).max(r.tcp_base),
        );
        r.attempts += 1;
        self.restart = Some(r);
        self.held.clear();
        self.ack_next = restart_at;
        self.arm(now);
    }

    /// Start a new incarnation at the first byte we lack (continuations too old to use).
    fn resume(&mut self, now: Instant) {
        if let Some(inc) = self.incarnation.take() {
            self.retired_tokens.push(inc.token_base);
        }
        self.stats.resumes += 1;
        self.resume_offset = self.reassembly.contiguous_end();
        self.receipts.clear();
        self.recent_epochs.clear();
        self.held.clear();
        self.flight.clear();
        self.restart = None;
        self.status = ClientStatus::Connecting;
        self.hello_attempts = 0;
        self.send_hello(now);
    }
}

/// The client clock as echoed in requests: 100 µs units, wrapping.
fn echo_clock(now: Instant) -> u32 {
    (now.micros() / 100) as u32
}

fn echo_clock_nonzero(now: Instant) -> u32 {
    echo_clock(now).max(1)
}
