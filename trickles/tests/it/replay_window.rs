//! Claims about how long a used request stays used and which key opens it: the replay filter
//! covers the freshness limit plus the clock skew, a wrong proof burns the request, and a
//! previous key stops opening continuations at its retirement time.

use std::net::SocketAddr;

use trickles::app::MemoryApplication;
use trickles::crypto::{Key, KeyRing};
use trickles::server::{DropReason, ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::{Header, HelloRepr, RequestKind, RequestRepr, ResponseRepr, SackBlock};
use trickles::Transmit;

const T0: Instant = Instant(1_700_000_000_000_000);
const CONN_ID: u64 = 77;

fn key(epoch: u8) -> Key {
    Key::from_secret(epoch, &[epoch.wrapping_mul(37); 32])
}

fn server(keys: KeyRing) -> ServerEndpoint<MemoryApplication> {
    let mut app = MemoryApplication::new();
    app.insert("/big", vec![5u8; 1_000_000]);
    ServerEndpoint::new(ServerConfig::default(), keys, app, 7)
}

fn client() -> SocketAddr {
    "198.18.0.2:40000".parse().expect("addr")
}

/// The answers to a HELLO at `now`.
fn hello(server: &mut ServerEndpoint<MemoryApplication>, now: Instant) -> Vec<Transmit> {
    let datagram = HelloRepr {
        conn_id: CONN_ID,
        resume_offset: 0,
        receive_window: 16 << 20,
        request: b"/big",
    }
    .emit(1400);
    let mut out = Vec::new();
    server
        .handle_datagram(now, client(), &datagram, &mut out)
        .expect("hello answered");
    out
}

/// The first request a client sends back, proving receipt of every response (or, with
/// `honest == false`, with a wrong nonce summary).
fn request(responses: &[Transmit], honest: bool) -> Vec<u8> {
    let mut summary = 0;
    let mut right = 0;
    let mut first = None;
    for t in responses {
        let (h, body) = Header::parse(&t.payload).expect("header");
        let r = ResponseRepr::parse(&h, body).expect("response");
        summary ^= r.nonce;
        right = r.continuation.fields.seq;
        first.get_or_insert_with(|| r.continuation_bytes.to_vec());
    }
    let block = SackBlock {
        left: 1,
        right,
        summary: if honest { summary } else { summary ^ 1 },
    };
    let cont = first.expect("a response");
    RequestRepr::emit(CONN_ID, RequestKind::Normal, 0, 1, &cont, &[block])
}

fn send(
    server: &mut ServerEndpoint<MemoryApplication>,
    now: Instant,
    datagram: &[u8],
) -> Result<usize, DropReason> {
    server.handle_datagram(now, client(), datagram, &mut Vec::new())
}

#[test]
fn replay_is_caught_for_as_long_as_a_continuation_from_a_fast_replica_stays_fresh() {
    let config = ServerConfig::default();
    let keys = KeyRing::new(key(1));
    // A replica whose clock runs 31 s ahead of ours... within freshness + skew of the
    // generation start below, so its continuations arrive "from the future".
    let mut fast = server(keys.clone());
    let issued = T0 + Duration::from_secs(31);
    let used = request(&hello(&mut fast, issued), true);
    let mut ours = server(keys);
    // Our filter's generation starts at T0 (the first token it saw).
    assert!(ours.replay_filter().check_and_insert(T0, 0xdead_beef));
    // Used late in that generation (the timestamp is 1.001 s ahead: within the skew)...
    let first_use = T0 + Duration::from_millis(29_999);
    assert!(send(&mut ours, first_use, &used).is_ok());
    // ...and replayed while still fresh by the issuer's stamp, two rotations of a
    // freshness-long generation later.
    let replay = issued + config.freshness - Duration::from_millis(500);
    assert!(replay.saturating_since(first_use) > config.freshness);
    assert_eq!(send(&mut ours, replay, &used), Err(DropReason::Replay));
}

#[test]
fn request_with_a_wrong_proof_burns_its_continuation() {
    let mut s = server(KeyRing::new(key(1)));
    let responses = hello(&mut s, T0);
    let now = T0 + Duration::from_millis(10);
    assert_eq!(
        send(&mut s, now, &request(&responses, false)),
        Err(DropReason::Proof)
    );
    assert_eq!(
        send(&mut s, now, &request(&responses, true)),
        Err(DropReason::Replay),
        "a second guess at the proof was allowed"
    );
}

#[test]
fn previous_key_stops_opening_continuations_at_its_retirement() {
    let mut old = server(KeyRing::new(key(1)));
    let sealed_by_old = request(&hello(&mut old, T0), true);
    let retires = T0 + Duration::from_secs(5);
    let rotated = KeyRing::with_previous(key(2), key(1)).retire_previous_at(retires);
    let mut before = server(rotated.clone());
    assert!(send(&mut before, retires - Duration(1), &sealed_by_old).is_ok());
    let mut after = server(rotated);
    assert_eq!(
        send(&mut after, retires, &sealed_by_old),
        Err(DropReason::Epoch)
    );
}
