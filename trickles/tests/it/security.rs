//! Security properties of the server step: forged continuations, replays, optimistic
//! acknowledgements and spoofed-source amplification.

use std::net::SocketAddr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles::app::MemoryApplication;
use trickles::crypto::{Key, KeyRing};
use trickles::server::{DropReason, ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::{Header, HelloRepr, RequestKind, RequestRepr, ResponseRepr, SackBlock};
use trickles::Transmit;
use trickles_testkit::{test_key, test_keys};

const T0: Instant = Instant(1_700_000_000_000_000);

fn server() -> ServerEndpoint<MemoryApplication> {
    let mut app = MemoryApplication::new();
    app.insert("/big", (0..2_000_000u32).map(|i| (i % 251) as u8).collect());
    ServerEndpoint::new(ServerConfig::default(), test_keys(), app, 42)
}

fn client_addr() -> SocketAddr {
    "198.18.0.2:40000".parse().unwrap()
}

/// Open a connection; returns the responses to the HELLO.
fn hello(server: &mut ServerEndpoint<MemoryApplication>, from: SocketAddr) -> Vec<Transmit> {
    let datagram = HelloRepr {
        conn_id: 99,
        resume_offset: 0,
        receive_window: 16 << 20,
        request: b"/big",
    }
    .emit(1400);
    let mut out = Vec::new();
    server
        .handle_datagram(T0, from, &datagram, &mut out)
        .unwrap();
    out
}

/// The continuation bytes and nonce of a response datagram.
fn parts(datagram: &[u8]) -> (Vec<u8>, u32, u64) {
    let (h, body) = Header::parse(datagram).unwrap();
    let r = ResponseRepr::parse(&h, body).unwrap();
    (
        r.continuation_bytes.to_vec(),
        r.nonce,
        r.continuation.fields.seq,
    )
}

/// An honest request for the first response, proving receipt of all initial packets.
fn honest_request(responses: &[Transmit]) -> (Vec<u8>, Vec<u8>, SackBlock) {
    let mut summary = 0;
    let mut right = 0;
    for t in responses {
        let (_, nonce, seq) = parts(&t.payload);
        summary ^= nonce;
        right = seq;
    }
    let block = SackBlock {
        left: 1,
        right,
        summary,
    };
    let (cont, _, _) = parts(&responses[0].payload);
    let req = RequestRepr::emit(99, RequestKind::Normal, 0, 1, &cont, &[block]);
    (req, cont, block)
}

#[test]
fn honest_request_is_answered() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    assert_eq!(responses.len(), 3);
    let (req, _, _) = honest_request(&responses);
    let mut out = Vec::new();
    let n = s
        .handle_datagram(
            T0 + Duration::from_millis(10),
            client_addr(),
            &req,
            &mut out,
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn randomly_mutated_continuations_are_all_rejected() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (_, cont, block) = honest_request(&responses);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut accepted = 0;
    for _ in 0..100_000 {
        let mut bad = cont.clone();
        let flips = rng.gen_range(1..=4);
        for _ in 0..flips {
            let i = rng.gen_range(0..bad.len());
            bad[i] ^= 1 << rng.gen_range(0..8);
        }
        if bad == cont {
            continue;
        }
        let req = RequestRepr::emit(99, RequestKind::Normal, 0, 1, &bad, &[block]);
        let mut out = Vec::new();
        if s.handle_datagram(
            T0 + Duration::from_millis(10),
            client_addr(),
            &req,
            &mut out,
        )
        .is_ok()
        {
            accepted += 1;
        }
        assert!(out.is_empty());
    }
    assert_eq!(accepted, 0);
}

#[test]
fn continuation_from_another_address_is_rejected() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (req, _, _) = honest_request(&responses);
    let mut out = Vec::new();
    let thief: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
    assert_eq!(
        s.handle_datagram(T0, thief, &req, &mut out),
        Err(DropReason::Mac)
    );
}

#[test]
fn replayed_continuation_is_answered_at_most_once() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (req, _, _) = honest_request(&responses);
    let mut answered = 0;
    let mut replays = 0;
    for i in 0..1_000u64 {
        let mut out = Vec::new();
        match s.handle_datagram(T0 + Duration(1_000 + i), client_addr(), &req, &mut out) {
            Ok(_) => answered += 1,
            Err(DropReason::Replay) => replays += 1,
            Err(other) => panic!("unexpected drop {other:?}"),
        }
    }
    assert_eq!(answered, 1);
    assert_eq!(replays, 999);
}

#[test]
fn optimistic_acknowledgement_gains_nothing() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (_, cont, honest) = honest_request(&responses);
    // Claim 50 packets the client never received, with every guess of the summary it can try
    // in 10^4 attempts: none is accepted, so no extra packet is ever released.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut released = 0;
    for _ in 0..10_000 {
        let claim = SackBlock {
            left: 1,
            right: honest.right + 50,
            summary: rng.gen(),
        };
        let req = RequestRepr::emit(99, RequestKind::Normal, 0, 1, &cont, &[claim]);
        let mut out = Vec::new();
        if let Ok(n) =
            s.handle_datagram(T0 + Duration::from_millis(5), client_addr(), &req, &mut out)
        {
            released += n;
        }
    }
    assert_eq!(released, 0);
}

#[test]
fn spoofed_hello_draws_at_most_three_times_its_size() {
    for (len, from) in [
        (1400usize, "198.18.0.9:1234"),
        (600, "198.18.0.9:1234"),
        (100, "[::1]:5555"),
        (1400, "[::1]:5555"),
    ] {
        let mut s = server();
        let datagram = HelloRepr {
            conn_id: 5,
            resume_offset: 0,
            receive_window: 16 << 20,
            request: b"/big",
        }
        .emit(len);
        let mut out = Vec::new();
        let _ = s.handle_datagram(T0, from.parse().unwrap(), &datagram, &mut out);
        let sent: usize = out.iter().map(|t| t.payload.len()).sum();
        assert!(
            sent <= 3 * datagram.len(),
            "hello of {} bytes drew {sent}",
            datagram.len()
        );
    }
}

#[test]
fn stale_continuation_is_rejected() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (req, _, _) = honest_request(&responses);
    let mut out = Vec::new();
    assert_eq!(
        s.handle_datagram(T0 + Duration::from_secs(31), client_addr(), &req, &mut out),
        Err(DropReason::Stale)
    );
}

#[test]
fn previous_key_epoch_is_still_honoured_after_rotation() {
    let mut s = server();
    let responses = hello(&mut s, client_addr());
    let (req, _, _) = honest_request(&responses);
    let old = test_key();
    let new = Key::from_secret(2, &[8u8; 32]);
    s.set_keys(KeyRing::with_previous(new, old));
    let mut out = Vec::new();
    assert!(s
        .handle_datagram(T0 + Duration::from_millis(1), client_addr(), &req, &mut out)
        .is_ok());
    // Two rotations later the epoch is gone.
    let mut s2 = server();
    let responses = hello(&mut s2, client_addr());
    let (req, _, _) = honest_request(&responses);
    s2.set_keys(KeyRing::with_previous(
        Key::from_secret(3, &[9u8; 32]),
        Key::from_secret(2, &[8u8; 32]),
    ));
    assert_eq!(
        s2.handle_datagram(T0, client_addr(), &req, &mut out),
        Err(DropReason::Epoch)
    );
}
