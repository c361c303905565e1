//! A deterministic, sans-IO stage for misbehaving clients: server endpoints sharing one key (each
//! with its own replay filter, as separate processes), one client, a fixed one-way delay, an
//! optional loss pattern on the server-to-client path, and virtual time only. The figure it
//! yields is what the servers sent the client: the packets and bytes a client draws.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;

use trickles::app::MemoryApplication;
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::{ContState, Header, ResponseRepr};
use trickles_testkit::test_keys;

/// Start of every run.
pub const T0: Instant = Instant(1_700_000_000_000_000);
/// One-way delay of the path (40 ms round trip).
pub const ONE_WAY: Duration = Duration(20_000);
/// The object every client asks for: larger than anything drawn within a run.
pub const OBJECT: &[u8] = b"/big";
/// Its length.
pub const OBJECT_LEN: usize = 64 << 20;
/// The client's receive window: the server caps the window at 54 packets of 1200 bytes, so an
/// honest client's rate is bounded and a run stays small.
pub const RECEIVE_WINDOW: u32 = 64 << 10;
/// A run stops early once the servers have sent this many packets (the figure is then a floor).
pub const PACKET_CAP: u64 = 60_000;

/// The client's address.
pub fn client_addr() -> SocketAddr {
    "198.18.0.2:40000".parse().unwrap()
}

/// Replica `i`'s address.
pub fn replica_addr(i: usize) -> SocketAddr {
    SocketAddr::new("198.18.0.1".parse().unwrap(), 4433 + i as u16)
}

/// A client under test: honest or not, it sees datagrams and its timer and answers with
/// datagrams addressed to replicas.
pub trait Peer {
    /// The first datagrams (the HELLO).
    fn start(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>);
    /// A datagram from a replica.
    fn on_datagram(&mut self, now: Instant, datagram: &[u8], out: &mut Vec<(usize, Vec<u8>)>);
    /// When it wants [`Peer::on_timeout`] called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Its timer fired.
    fn on_timeout(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>);
}

/// Which server-to-client packets the path loses: `(seq, retransmission flag, how many times
/// this seq was sent before)` → lost.
pub type LossPattern = fn(u64, bool, u32) -> bool;

/// No loss.
pub fn no_loss(_: u64, _: bool, _: u32) -> bool {
    false
}

/// The first transmission of one seq in 20 is lost (5 %), whoever asks for it.
pub fn one_in_twenty(seq: u64, _: bool, times: u32) -> bool {
    seq % 20 == 7 && times == 0
}

/// What the servers sent the client in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Packets (RESPONSE datagrams).
    pub packets: u64,
    /// Bytes of UDP payload.
    pub bytes: u64,
    /// Of which retransmissions (flag set).
    pub retransmissions: u64,
    /// Requests the client sent.
    pub requests: u64,
    /// Bytes the client sent.
    pub request_bytes: u64,
    /// Distinct sequence numbers sent.
    pub distinct: u64,
    /// Of which post-loss packets (continuation state bootstrap).
    pub post_loss: u64,
    /// Of which packets opening a restarted window (its first two packets).
    pub restarts: u64,
    /// Virtual time the run lasted (less than asked when it hit [`PACKET_CAP`]).
    pub elapsed: Duration,
}

enum Event {
    ToServer(usize, Vec<u8>),
    ToClient(Vec<u8>),
    Timer,
}

/// `replicas` endpoints with the same key, each its own process (own replay filter).
pub fn replicas(replicas: usize) -> Vec<ServerEndpoint<MemoryApplication>> {
    let body: Vec<u8> = (0..OBJECT_LEN).map(|i| (i % 251) as u8).collect();
    (0..replicas)
        .map(|i| {
            let mut app = MemoryApplication::new();
            app.insert(OBJECT, body.clone());
            ServerEndpoint::new(ServerConfig::default(), test_keys(), app, 7 + i as u64)
        })
        .collect()
}

/// Run `peer` against `servers` for `span` of virtual time with `loss` on the way back.
pub fn run(
    servers: &mut [ServerEndpoint<MemoryApplication>],
    peer: &mut dyn Peer,
    span: Duration,
    loss: LossPattern,
) -> Drawn {
    let end = T0 + span;
    let mut queue: BinaryHeap<Reverse<(Instant, u64, usize)>> = BinaryHeap::new();
    let mut events: Vec<Option<Event>> = Vec::new();
    fn push(
        queue: &mut BinaryHeap<Reverse<(Instant, u64, usize)>>,
        events: &mut Vec<Option<Event>>,
        at: Instant,
        e: Event,
    ) {
        queue.push(Reverse((at, events.len() as u64, events.len())));
        events.push(Some(e));
    }
    let mut drawn = Drawn::default();
    let mut sent_times: std::collections::HashMap<u64, u32> = Default::default();
    let mut out = Vec::new();
    peer.start(T0, &mut out);
    let mut timer = None;
    let mut now = T0;
    loop {
        for (replica, d) in out.drain(..) {
            drawn.requests += 1;
            drawn.request_bytes += d.len() as u64;
            // Replica i is i µs further: its continuations differ from the others' (their
            // timestamps), as those of separate machines do.
            let delay = ONE_WAY + Duration(replica as u64);
            push(
                &mut queue,
                &mut events,
                now + delay,
                Event::ToServer(replica, d),
            );
        }
        if timer != peer.poll_timeout() {
            timer = peer.poll_timeout();
            if let Some(at) = timer {
                push(&mut queue, &mut events, at, Event::Timer);
            }
        }
        let Some(Reverse((at, _, i))) = queue.pop() else {
            break;
        };
        if at > end || drawn.packets >= PACKET_CAP {
            break;
        }
        drawn.elapsed = at.saturating_since(T0);
        now = at;
        match events[i].take() {
            Some(Event::ToServer(replica, d)) => {
                let mut answers = Vec::new();
                let _ = servers[replica].handle_datagram(now, client_addr(), &d, &mut answers);
                for t in answers {
                    let (h, body) = Header::parse(&t.payload).unwrap();
                    if let Ok(r) = ResponseRepr::parse(&h, body) {
                        let seq = r.continuation.fields.seq;
                        let retransmission = r.flags & 0x02 != 0;
                        let times = sent_times.entry(seq).or_insert(0);
                        let lost = loss(seq, retransmission, *times);
                        *times += 1;
                        drawn.packets += 1;
                        drawn.bytes += t.payload.len() as u64;
                        drawn.retransmissions += u64::from(retransmission);
                        let f = r.continuation.fields;
                        drawn.post_loss += u64::from(f.state == ContState::Bootstrap);
                        drawn.restarts += u64::from(
                            f.start_cwnd == 2
                                && f.first_loss == 0
                                && f.tcp_base > 1
                                && seq < f.tcp_base + 2,
                        );
                        if !lost {
                            push(
                                &mut queue,
                                &mut events,
                                now + ONE_WAY,
                                Event::ToClient(t.payload),
                            );
                        }
                    }
                }
            }
            Some(Event::ToClient(d)) => peer.on_datagram(now, &d, &mut out),
            Some(Event::Timer) if timer == Some(now) => {
                timer = None;
                peer.on_timeout(now, &mut out);
            }
            Some(Event::Timer) => {}
            None => {}
        }
    }
    drawn.distinct = sent_times.len() as u64;
    drawn
}
