//! The sans-IO mirror's decisions, datagram by datagram, in virtual time: who is forwarded,
//! what is refused and counted, what the emulated path does, and that the mirror never emits
//! more bytes for a source than it received from it.

use std::net::SocketAddr;
use std::sync::Arc;

use trickles::time::{Duration, Instant};
use trickles_link::{GilbertElliott, LinkConfig};
use trickles_mirror::auth::{AuthKey, Peer, PeerTable, Reach, Side};
use trickles_mirror::guard::{BucketRate, GuardLimits};
use trickles_mirror::wan::WanProfile;
use trickles_mirror::{EmulatedDrop, Fate, Mirror, MirrorRoute, MirrorRules, Reject, Released};
use trickles_netfn::encap::EncapRepr;

const NOW_SECS: u64 = 1_700_000_000;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("addr")
}

fn mirror_addr() -> SocketAddr {
    addr("127.0.0.1:7000")
}
fn client() -> SocketAddr {
    addr("127.0.0.1:40000")
}
fn server() -> SocketAddr {
    addr("127.0.0.1:4433")
}
fn laptop_key() -> AuthKey {
    AuthKey::new(1, [0x42; 16])
}

/// A peer without keys at the addresses matching `pattern`.
fn peer(name: &str, pattern: &str, side: Side, reach: Reach) -> Peer {
    Peer {
        name: name.into(),
        addresses: vec![pattern.parse().expect("pattern")],
        keys: vec![],
        side,
        reach,
    }
}

fn peers() -> PeerTable {
    PeerTable::new(vec![
        peer("client", "127.0.0.1:40000", Side::Client, Reach::Peers),
        peer("server", "127.0.0.1:4433", Side::Server, Reach::Any),
        Peer {
            name: "laptop".into(),
            addresses: vec![],
            keys: vec![laptop_key()],
            side: Side::Client,
            reach: Reach::Peers,
        },
    ])
    .expect("peers")
}

fn rules(wan: WanProfile) -> MirrorRules {
    MirrorRules {
        wan,
        ..MirrorRules::new(peers())
    }
}

fn mirror(rules: MirrorRules) -> Mirror {
    Mirror::new(Arc::new(rules), vec![mirror_addr()], 7)
}

fn perfect() -> Mirror {
    mirror(rules(WanProfile::default()))
}

fn wrap(destination: SocketAddr, inner: &[u8]) -> Vec<u8> {
    MirrorRoute::new(mirror_addr()).wrap(destination, inner, NOW_SECS)
}

fn release_all(mirror: &mut Mirror, now: Instant) -> Vec<Released> {
    let mut out = Vec::new();
    mirror.release_due(now, &mut out);
    out
}

#[test]
fn forwarded_datagram_names_its_sender_and_keeps_the_payload() {
    let mut m = perfect();
    let fate = m.on_datagram(Instant(0), NOW_SECS, client(), &wrap(server(), b"REQUEST"));
    assert!(matches!(fate, Ok(Fate::Scheduled { .. })), "{fate:?}");
    let out = release_all(&mut m, Instant(0));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].destination, server());
    let (header, inner) = EncapRepr::parse(&out[0].datagram).expect("header");
    assert_eq!(header.peer, client());
    assert_eq!(inner, b"REQUEST");
    // And the answer goes back the same way.
    let answer = m.on_datagram(Instant(1), NOW_SECS, server(), &wrap(client(), b"RESPONSE"));
    assert!(answer.is_ok());
    let back = release_all(&mut m, Instant(1));
    assert_eq!(back[0].destination, client());
    let route = MirrorRoute::new(mirror_addr());
    assert_eq!(
        route.unwrap(mirror_addr(), &back[0].datagram),
        Ok((server(), &b"RESPONSE"[..]))
    );
    let counters = m.take_counters();
    assert_eq!(counters.forwarded_packets(), 2);
    assert_eq!(counters.received_packets, 2);
}

#[test]
fn unauthenticated_source_gets_nothing_and_is_counted() {
    let mut m = perfect();
    let stranger = addr("127.0.0.1:40001");
    for _ in 0..3 {
        assert_eq!(
            m.on_datagram(Instant(0), NOW_SECS, stranger, &wrap(server(), b"x")),
            Err(Reject::UnknownSource)
        );
    }
    assert!(release_all(&mut m, Instant(u64::MAX)).is_empty());
    assert_eq!(m.counters().rejected(Reject::UnknownSource), 3);
    assert_eq!(m.counters().forwarded_packets(), 0);
}

#[test]
fn forged_tag_is_refused_and_a_genuine_one_forwarded_from_anywhere() {
    let mut m = perfect();
    let roaming = addr("127.0.0.1:50505");
    let genuine = MirrorRoute::new(mirror_addr()).with_key(laptop_key());
    let forged = MirrorRoute::new(mirror_addr()).with_key(AuthKey::new(1, [0x43; 16]));
    assert_eq!(
        m.on_datagram(
            Instant(0),
            NOW_SECS,
            roaming,
            &forged.wrap(server(), b"x", NOW_SECS)
        ),
        Err(Reject::BadTag)
    );
    let stale = genuine.wrap(server(), b"x", NOW_SECS - 3_600);
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, roaming, &stale),
        Err(Reject::StaleTag)
    );
    let fresh = genuine.wrap(server(), b"x", NOW_SECS);
    assert!(m.on_datagram(Instant(0), NOW_SECS, roaming, &fresh).is_ok());
    // A tag covers the destination: redirecting a captured datagram breaks it.
    let mut redirected = fresh.clone();
    redirected[7] ^= 1; // low byte of the destination port
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, roaming, &redirected),
        Err(Reject::BadTag)
    );
}

#[test]
fn destinations_outside_the_peers_and_the_mirror_itself_are_refused() {
    let mut m = perfect();
    let outside = addr("192.0.2.1:53");
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, client(), &wrap(outside, b"x")),
        Err(Reject::DestinationNotAllowed)
    );
    // The server side may reach anyone, but never a broadcast address or the mirror.
    assert_eq!(
        m.on_datagram(
            Instant(0),
            NOW_SECS,
            server(),
            &wrap(addr("255.255.255.255:9"), b"x")
        ),
        Err(Reject::DestinationNotAllowed)
    );
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, server(), &wrap(mirror_addr(), b"x")),
        Err(Reject::Loop)
    );
    assert!(m
        .on_datagram(Instant(0), NOW_SECS, server(), &wrap(outside, b"x"))
        .is_ok());
}

#[test]
fn malformed_datagrams_are_refused() {
    let mut m = perfect();
    let mut bad_options = wrap(server(), b"x");
    bad_options[5] = 14; // claims two option bytes: a TLV cut short
    for datagram in [&b""[..], b"\x01\x01plain trickles", &bad_options] {
        assert_eq!(
            m.on_datagram(Instant(0), NOW_SECS, client(), datagram),
            Err(Reject::Malformed)
        );
    }
    assert_eq!(m.counters().rejected(Reject::Malformed), 3);
}

#[test]
fn delay_through_the_mirror_is_exact_in_virtual_time() {
    let profile = WanProfile {
        to_server: LinkConfig::with_delay(Duration::from_millis(40)),
        to_client: LinkConfig::with_delay(Duration::from_millis(15)),
    };
    let mut m = mirror(rules(profile));
    let sent = Instant(1_000_000);
    m.on_datagram(sent, NOW_SECS, client(), &wrap(server(), b"up"))
        .expect("forwarded");
    m.on_datagram(sent, NOW_SECS, server(), &wrap(client(), b"down"))
        .expect("forwarded");
    assert_eq!(m.next_release(), Some(Instant(1_015_000)));
    assert!(release_all(&mut m, Instant(1_014_999)).is_empty());
    let down = release_all(&mut m, Instant(1_015_000));
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].destination, client());
    assert!(release_all(&mut m, Instant(1_039_999)).is_empty());
    let up = release_all(&mut m, Instant(1_040_000));
    assert_eq!(up[0].destination, server());
    assert_eq!(m.queue_depth(), (0, 0));
}

/// Offer `count` datagrams of `len` bytes from the client, one per millisecond, and release
/// everything; return (bytes in, bytes out, datagrams out).
fn run_client_load(m: &mut Mirror, count: u64, len: usize) -> (usize, usize, usize) {
    let (mut bytes_in, mut bytes_out, mut datagrams_out) = (0, 0, 0);
    let payload = vec![0xAB; len];
    for i in 0..count {
        let now = Instant(i * 1_000);
        let datagram = wrap(server(), &payload);
        bytes_in += datagram.len();
        let _ = m.on_datagram(now, NOW_SECS, client(), &datagram);
        let out = release_all(m, now);
        datagrams_out += out.len();
        bytes_out += out.iter().map(|r| r.datagram.len()).sum::<usize>();
    }
    let rest = release_all(m, Instant(u64::MAX));
    datagrams_out += rest.len();
    bytes_out += rest.iter().map(|r| r.datagram.len()).sum::<usize>();
    (bytes_in, bytes_out, datagrams_out)
}

#[test]
fn duplication_never_makes_the_mirror_emit_more_than_it_received() {
    // Every datagram duplicated, none lost: no credit for any copy.
    let mut always_duplicating = mirror(rules(WanProfile::symmetric(LinkConfig {
        duplicate: 1.0,
        ..LinkConfig::default()
    })));
    let (bytes_in, bytes_out, out) = run_client_load(&mut always_duplicating, 1_000, 200);
    assert_eq!(out, 1_000);
    assert!(bytes_out <= bytes_in);
    let counters = always_duplicating.take_counters();
    assert_eq!(
        counters.emulated_drops[0][EmulatedDrop::DuplicateOverBudget.index()],
        1_000
    );

    // With loss, the credit of lost datagrams pays for some copies, and never for more.
    let mut lossy = mirror(rules(WanProfile::symmetric(LinkConfig {
        loss: 0.3,
        duplicate: 0.5,
        ..LinkConfig::default()
    })));
    let (bytes_in, bytes_out, out) = run_client_load(&mut lossy, 10_000, 200);
    assert!(bytes_out <= bytes_in, "{bytes_out} out for {bytes_in} in");
    let counters = lossy.take_counters();
    assert!(
        counters.duplicates[0] > 1_000,
        "copies: {}",
        counters.duplicates[0]
    );
    assert!(out > 7_000);
}

#[test]
fn configured_loss_is_applied_and_counted_by_direction() {
    let mut m = mirror(rules(WanProfile {
        to_server: LinkConfig {
            loss: 0.01,
            burst_loss: Some(GilbertElliott::with_mean_loss(0.02, 4.0)),
            ..LinkConfig::default()
        },
        to_client: LinkConfig::default(),
    }));
    let (_, _, out) = run_client_load(&mut m, 100_000, 100);
    let counters = m.take_counters();
    let random = counters.emulated_drops[0][EmulatedDrop::RandomLoss.index()];
    let burst = counters.emulated_drops[0][EmulatedDrop::BurstLoss.index()];
    assert!((800..=1_200).contains(&random), "random {random}");
    assert!((1_600..=2_400).contains(&burst), "burst {burst}");
    assert_eq!(out as u64 + random + burst, 100_000);
    assert_eq!(counters.emulated_drops[1], [0; EmulatedDrop::COUNT]);
}

#[test]
fn a_source_over_its_packet_rate_is_refused() {
    let mut m = mirror(MirrorRules {
        guard: GuardLimits {
            packets: Some(BucketRate {
                per_second: 1_000,
                burst: 10,
            }),
            ..GuardLimits::default()
        },
        ..rules(WanProfile::default())
    });
    let results: Vec<_> = (0..20)
        .map(|_| m.on_datagram(Instant(0), NOW_SECS, client(), &wrap(server(), b"x")))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert_eq!(m.counters().rejected(Reject::RateLimited), 10);
    // Buckets are per source IP: another host has its own.
    let laptop = MirrorRoute::new(mirror_addr()).with_key(laptop_key());
    let datagram = laptop.wrap(server(), b"x", NOW_SECS);
    assert!(m
        .on_datagram(Instant(0), NOW_SECS, addr("10.9.9.9:1"), &datagram)
        .is_ok());
}

#[test]
fn delay_queue_limit_drops_instead_of_growing() {
    let mut m = mirror(MirrorRules {
        delay_queue: trickles_mirror::wan::QueueLimits {
            packets: 5,
            bytes: 1 << 20,
        },
        ..rules(WanProfile::symmetric(LinkConfig::with_delay(
            Duration::from_millis(100),
        )))
    });
    let fates: Vec<_> = (0..8)
        .map(|_| m.on_datagram(Instant(0), NOW_SECS, client(), &wrap(server(), b"x")))
        .collect();
    assert_eq!(fates[7], Ok(Fate::Lost(EmulatedDrop::DelayQueueFull)));
    assert_eq!(m.queue_depth().0, 5);
}

#[test]
fn reload_applies_new_rules_and_keeps_datagrams_in_flight() {
    let mut m = mirror(rules(WanProfile::symmetric(LinkConfig::with_delay(
        Duration::from_millis(50),
    ))));
    m.on_datagram(Instant(0), NOW_SECS, client(), &wrap(server(), b"old"))
        .expect("forwarded");
    // The new configuration no longer knows the client, and has no delay.
    let server_only = PeerTable::new(vec![peers().peers()[1].clone()]).expect("peers");
    m.set_rules(Arc::new(MirrorRules::new(server_only)));
    assert_eq!(
        m.on_datagram(Instant(1), NOW_SECS, client(), &wrap(server(), b"new")),
        Err(Reject::UnknownSource)
    );
    let out = release_all(&mut m, Instant(50_000));
    assert_eq!(out.len(), 1);
    assert!(out[0].datagram.ends_with(b"old"));
}

#[test]
fn ipv6_sender_reaching_an_ipv4_destination_is_not_an_amplifier() {
    let table = PeerTable::new(vec![
        peer("v6-client", "::1", Side::Client, Reach::Peers),
        peer("server", "127.0.0.1:4433", Side::Server, Reach::Any),
    ])
    .expect("peers");
    let mut m = Mirror::new(Arc::new(MirrorRules::new(table)), vec![], 1);
    let v6_client = addr("[::1]:40000");
    // A raw header without the shim's padding grows by 12 bytes on the way out: refused.
    let unpadded = EncapRepr::new(server()).encapsulate(b"x");
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, v6_client, &unpadded),
        Err(Reject::Amplification)
    );
    // The shim pads, so the same request is forwarded at no more than its own size.
    let padded = MirrorRoute::new(addr("[::1]:7000")).wrap(server(), b"x", NOW_SECS);
    m.on_datagram(Instant(0), NOW_SECS, v6_client, &padded)
        .expect("forwarded");
    let out = release_all(&mut m, Instant(0));
    assert!(out[0].datagram.len() <= padded.len());
}

proptest::proptest! {
    /// Whatever bytes arrive, from a configured peer or not, the mirror neither panics nor
    /// emits more than it received, and never forwards for a stranger.
    #[test]
    fn arbitrary_datagrams_never_panic_or_amplify(
        datagrams in proptest::collection::vec(
            (proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0usize..3, 0usize..80),
            1..40,
        )
    ) {
        let mut m = mirror(rules(WanProfile::symmetric(LinkConfig {
            duplicate: 0.5,
            loss: 0.2,
            ..LinkConfig::default()
        })));
        let stranger = addr("192.0.2.66:1234");
        let mut bytes_in = 0usize;
        for (noise, sender, cut) in datagrams {
            // A valid datagram with noise spliced in at `cut` (into its header, options or payload).
            let mut datagram = wrap(if sender == 1 { client() } else { server() }, b"payload");
            let at = cut.min(datagram.len());
            datagram.splice(at..at, noise.iter().copied());
            let from = [client(), server(), stranger][sender];
            bytes_in += datagram.len();
            let verdict = m.on_datagram(Instant(0), NOW_SECS, from, &datagram);
            if sender == 2 {
                proptest::prop_assert!(verdict.is_err(), "forwarded for a stranger: {verdict:?}");
            }
        }
        let out = release_all(&mut m, Instant(u64::MAX));
        let bytes_out: usize = out.iter().map(|r| r.datagram.len()).sum();
        proptest::prop_assert!(bytes_out <= bytes_in);
    }
}

/// `wrap(destination, inner)` with the DIRECT_RETURN flag set in its header.
fn wrap_direct_return(destination: SocketAddr, inner: &[u8]) -> Vec<u8> {
    let mut wire = wrap(destination, inner);
    wire[trickles_netfn::encap::field::FLAGS] |= trickles_netfn::encap::FLAG_DIRECT_RETURN;
    wire
}

#[test]
fn client_cannot_ask_for_direct_return_through_the_mirror() {
    let mut m = perfect();
    let fate = m.on_datagram(
        Instant(0),
        NOW_SECS,
        client(),
        &wrap_direct_return(server(), b"REQUEST"),
    );
    assert!(matches!(fate, Ok(Fate::Scheduled { .. })), "{fate:?}");
    let out = release_all(&mut m, Instant(0));
    let (header, inner) = EncapRepr::parse(&out[0].datagram).expect("header");
    assert_eq!(
        header.flags, 0,
        "the replica would answer around the mirror"
    );
    assert_eq!(inner, b"REQUEST");
}

#[test]
fn client_side_peer_cannot_reach_another_client_side_peer() {
    let mut m = perfect();
    let laptop = MirrorRoute::new(mirror_addr()).with_key(laptop_key());
    let to_client = laptop.wrap(client(), b"hello, neighbour", NOW_SECS);
    assert_eq!(
        m.on_datagram(Instant(0), NOW_SECS, addr("127.0.0.1:50505"), &to_client),
        Err(Reject::DestinationNotAllowed)
    );
    assert!(release_all(&mut m, Instant(u64::MAX)).is_empty());
}
