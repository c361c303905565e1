//! The client told by the network that its server is unreachable (an ICMP error quoting its
//! datagram, as the driver reads it from the socket's error queue) retries at once instead of
//! waiting for its timer, and forged errors cost no more than a counted, bounded few datagrams.
//! In virtual time: a server process that dies and comes back, its host answering "port
//! unreachable" while nothing listens.

use std::collections::VecDeque;
use std::net::SocketAddr;

use trickles::app::MemoryApplication;
use trickles::client::{ClientConfig, ClientConnection, ClientStats, ClientStatus};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::refuse::CODE_SERVER_UNREACHABLE;
use trickles::wire::{Header, RefuseRepr};
use trickles_testkit::test_keys;

const ONE_WAY: Duration = Duration(5_000);
const LEN: usize = 2_000_000;

fn body() -> Vec<u8> {
    (0..LEN).map(|i| (i * 7 % 253) as u8).collect()
}

/// What the dead server's host says to each datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Icmp {
    /// Nothing: the datagrams vanish.
    Silent,
    /// "Port unreachable" for every datagram (as on loopback, where Linux does not limit).
    Every,
    /// "Port unreachable" as Linux limits it per destination host: a burst of 6, then one a
    /// second (`net.ipv4.icmp_ratelimit`, the inetpeer token bucket).
    RateLimited,
    /// The dead server is a replica behind a balancer: its host's unreachables (rate-limited
    /// as above) go to the balancer, which passes each on to the client as a REFUSE with code 6
    /// from the address the client sends to.
    BalancerNotice,
}

enum Wire {
    ToServer(Vec<u8>),
    ToClient(Vec<u8>),
    /// An ICMP error quoting this datagram of the client's.
    Unreachable(Vec<u8>),
}

/// What happened to one transfer.
struct Run {
    status: ClientStatus,
    received: Vec<u8>,
    stats: ClientStats,
    /// Client datagrams sent while the server was down.
    sent_while_down: u64,
    /// Milliseconds from the server's return to the first new byte delivered after it.
    resumed_after_return_ms: Option<u64>,
}

/// A transfer during which the server process is gone in `[down_from, down_to)` (ms of virtual
/// time); while it is, its host answers as `icmp` says. Every
/// `forge_every` µs (0: never) a forged unreachable arrives quoting the client's latest
/// datagram (an on-path forger: the hardest case).
fn run(down_from: u64, down_to: u64, icmp: Icmp, forge_every: u64) -> Run {
    let data = body();
    let mut app = MemoryApplication::new();
    app.insert("/f", data.clone());
    let mut server = ServerEndpoint::new(ServerConfig::default(), test_keys(), app, 1);
    let server_addr: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let client_addr: SocketAddr = "198.18.0.2:50000".parse().unwrap();
    let start = Instant(1_700_000_000_000_000);
    let ms = |t: Instant| t.saturating_since(start).millis();
    let mut now = start;
    let mut client =
        ClientConnection::new(now, server_addr, b"/f".to_vec(), ClientConfig::default(), 7);
    let mut wire: VecDeque<(Instant, Wire)> = VecDeque::new();
    let (mut received, mut sent_while_down, mut resumed) = (Vec::new(), 0, None);
    let mut latest = Vec::new();
    let mut next_forgery = start + Duration(forge_every);
    let deadline = now + Duration::from_secs(120);
    let mut buf = vec![0u8; 65536];
    // The host's ICMP tokens (for Icmp::RateLimited): 6 at most, one more each second.
    let (mut tokens, mut refilled) = (6u64, start);
    while now < deadline {
        while let Some(t) = client.poll_transmit(now) {
            if (down_from..down_to).contains(&ms(now)) {
                sent_while_down += 1;
            }
            latest.clone_from(&t.payload);
            wire.push_back((now + ONE_WAY, Wire::ToServer(t.payload)));
        }
        loop {
            let k = client.read(&mut buf);
            if k == 0 {
                break;
            }
            if resumed.is_none() && ms(now) >= down_to {
                resumed = Some(ms(now) - down_to);
            }
            received.extend_from_slice(&buf[..k]);
        }
        if matches!(
            client.status(),
            ClientStatus::Done | ClientStatus::Failed(_)
        ) {
            break;
        }
        let mut next = now + Duration::from_millis(1);
        if let Some((at, _)) = wire.front() {
            next = next.min(*at);
        }
        if let Some(at) = client.poll_timeout() {
            next = next.min(at);
        }
        if forge_every > 0 {
            next = next.min(next_forgery);
        }
        now = now.max(next);
        if forge_every > 0 && now >= next_forgery {
            next_forgery = now + Duration(forge_every);
            if !latest.is_empty() {
                client.handle_unreachable(now, server_addr, &latest);
            }
        }
        while wire.front().is_some_and(|(at, _)| *at <= now) {
            let (_, item) = wire.pop_front().unwrap();
            match item {
                Wire::ToServer(payload) if (down_from..down_to).contains(&ms(now)) => {
                    let grown = now.saturating_since(refilled).millis() / 1000;
                    if grown > 0 {
                        tokens = (tokens + grown).min(6);
                        refilled = refilled + Duration::from_secs(grown);
                    }
                    let send = match icmp {
                        Icmp::Silent => false,
                        Icmp::Every => true,
                        Icmp::RateLimited | Icmp::BalancerNotice if tokens > 0 => {
                            tokens -= 1;
                            true
                        }
                        Icmp::RateLimited | Icmp::BalancerNotice => false,
                    };
                    if send && icmp == Icmp::BalancerNotice {
                        wire.push_back((now + ONE_WAY, Wire::ToClient(notice(&payload))));
                    } else if send {
                        wire.push_back((now + ONE_WAY, Wire::Unreachable(payload)));
                    }
                }
                Wire::ToServer(payload) => {
                    let mut out = Vec::new();
                    let _ = server.handle_datagram(now, client_addr, &payload, &mut out);
                    for t in out {
                        wire.push_back((now + ONE_WAY, Wire::ToClient(t.payload)));
                    }
                }
                Wire::ToClient(payload) => client.handle_datagram(now, server_addr, &payload),
                Wire::Unreachable(quoted) => {
                    client.handle_unreachable(now, server_addr, &quoted);
                }
            }
        }
        client.handle_timeout(now);
    }
    Run {
        status: client.status(),
        received,
        stats: client.stats(),
        sent_while_down,
        resumed_after_return_ms: resumed,
    }
}

#[test]
fn a_server_back_after_60ms_resumes_within_a_few_ms_when_its_host_says_unreachable() {
    // The transfer takes about 100 ms unhindered: the server dies 50 ms in.
    let told = run(50, 110, Icmp::Every, 0);
    let silent = run(50, 110, Icmp::Silent, 0);
    for (what, r) in [("told", &told), ("silent", &silent)] {
        assert_eq!(r.status, ClientStatus::Done, "{what}: {:?}", r.stats);
        assert!(r.received == body(), "{what}: not byte-exact");
    }
    let (told_ms, silent_ms) = (
        told.resumed_after_return_ms.expect("told resumed"),
        silent.resumed_after_return_ms.expect("silent resumed"),
    );
    eprintln!("resumed after the return: told {told_ms} ms, silent {silent_ms} ms");
    assert!(told.stats.unreachables >= 1, "{:?}", told.stats);
    assert_eq!(silent.stats.unreachables, 0);
    // Told: the next paced retry after the return (gaps of 10, 20, 40 ms) plus a round trip.
    assert!(
        told_ms <= 50,
        "told: resumed {told_ms} ms after the return: {:?} silent {silent_ms} ms {:?}",
        told.stats,
        silent.stats
    );
    // Silent: the retransmission timer (at least the 200 ms minimum RTO from the kill).
    assert!(
        silent_ms > told_ms + 50,
        "silent {silent_ms} ms, told {told_ms} ms"
    );
}

/// What a balancer sends the client when a replica's host says "port unreachable" to the
/// client's datagram it forwarded.
fn notice(quoted: &[u8]) -> Vec<u8> {
    let (header, _) = Header::parse(quoted).expect("a datagram of the client");
    RefuseRepr {
        conn_id: header.conn_id,
        code: CODE_SERVER_UNREACHABLE,
        message: b"replica unreachable",
    }
    .emit()
}

#[test]
fn a_replica_behind_a_balancer_resumes_within_a_few_ms_when_the_balancer_passes_on_its_unreachables(
) {
    let noticed = run(50, 110, Icmp::BalancerNotice, 0);
    let silent = run(50, 110, Icmp::Silent, 0);
    assert_eq!(noticed.status, ClientStatus::Done, "{:?}", noticed.stats);
    assert!(noticed.received == body(), "not byte-exact");
    let noticed_ms = noticed.resumed_after_return_ms.expect("resumed");
    let silent_ms = silent.resumed_after_return_ms.expect("resumed");
    eprintln!("balancer notices: resumed {noticed_ms} ms after the return (silent {silent_ms} ms)");
    assert!(
        noticed.stats.unreachable_notices >= 1,
        "{:?}",
        noticed.stats
    );
    assert!(
        noticed_ms <= 30,
        "resumed {noticed_ms} ms after the return: {:?}",
        noticed.stats
    );
    assert!(silent_ms > noticed_ms + 50, "silent {silent_ms} ms");
}

#[test]
fn a_notice_from_another_address_is_ignored_and_none_ends_the_connection() {
    let server: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let elsewhere: SocketAddr = "198.18.0.9:4433".parse().unwrap();
    let mut now = Instant(1_700_000_000_000_000);
    let mut client = ClientConnection::new(now, server, b"/f".to_vec(), ClientConfig::default(), 7);
    let hello = client.poll_transmit(now).expect("HELLO").payload;
    let notice = notice(&hello);
    client.handle_datagram(now, elsewhere, &notice);
    assert!(client.poll_transmit(now).is_none(), "not from the server");
    assert_eq!(client.stats().unreachable_notices, 0);
    // A flood of notices, one every millisecond for 3 s: paced retries, still connecting.
    let mut sent = 0;
    for _ in 0..3_000 {
        now = now + Duration::from_millis(1);
        client.handle_datagram(now, server, &notice);
        client.handle_timeout(now);
        while client.poll_transmit(now).is_some() {
            sent += 1;
        }
    }
    assert_eq!(
        client.status(),
        ClientStatus::Connecting,
        "{:?}",
        client.stats()
    );
    assert_eq!(client.stats().unreachable_notices, 3_000);
    assert!(sent < 100, "{sent} HELLOs for 3,000 notices");
}

#[test]
fn a_server_back_after_60ms_resumes_within_a_few_ms_even_when_the_host_rate_limits_its_icmp() {
    // Linux sends 6 unreachables to a host, then one a second: the 6 are drawn by the requests
    // still in flight at the kill, while the dead server's last packets arrive. The client
    // keeps them for when the packets stop, then probes every 10 ms.
    let limited = run(50, 110, Icmp::RateLimited, 0);
    let silent = run(50, 110, Icmp::Silent, 0);
    assert_eq!(limited.status, ClientStatus::Done, "{:?}", limited.stats);
    assert!(limited.received == body(), "not byte-exact");
    let limited_ms = limited.resumed_after_return_ms.expect("resumed");
    let silent_ms = silent.resumed_after_return_ms.expect("resumed");
    eprintln!(
        "rate-limited ICMP: resumed {limited_ms} ms after the return (silent {silent_ms} ms)"
    );
    assert!(
        limited_ms <= 30,
        "resumed {limited_ms} ms after the return: {:?}",
        limited.stats
    );
    assert!(silent_ms > limited_ms + 50, "silent {silent_ms} ms");
}

#[test]
fn a_server_replaced_within_a_round_trip_leaves_a_hole_that_its_unreachables_fill_at_once() {
    // Down for 8 ms (less than the 10 ms round trip): the requests in flight are lost, the
    // replacement answers the later ones, whose packets land beyond the hole. The errors for
    // the lost ones are acted on as soon as the in-order stream stops, not after an RTO.
    let limited = run(50, 58, Icmp::RateLimited, 0);
    let silent = run(50, 58, Icmp::Silent, 0);
    for (what, r) in [("limited", &limited), ("silent", &silent)] {
        assert_eq!(r.status, ClientStatus::Done, "{what}: {:?}", r.stats);
        assert!(r.received == body(), "{what}: not byte-exact");
    }
    let limited_ms = limited.resumed_after_return_ms.expect("resumed");
    let silent_ms = silent.resumed_after_return_ms.expect("resumed");
    eprintln!("replaced in 8 ms: resumed {limited_ms} ms after (silent {silent_ms} ms)");
    assert!(limited.stats.unreachables >= 1, "{:?}", limited.stats);
    assert!(
        limited_ms + 50 < silent_ms,
        "limited {limited_ms} ms, silent {silent_ms} ms: {:?}",
        limited.stats
    );
}

#[test]
fn a_dead_server_is_polled_at_a_paced_rate_not_flooded() {
    // Down for 2 s: without pacing every unreachable would trigger a datagram at once.
    let r = run(50, 2_050, Icmp::Every, 0);
    assert_eq!(r.status, ClientStatus::Done, "{:?}", r.stats);
    assert!(r.received == body());
    // Ten 10 ms gaps, then 20, 40, 80, 160 ms, then one per RTO (≥ 200 ms): about 22 in 2 s.
    assert!(
        r.stats.unreachables <= 26,
        "{} reactions in 2 s: {:?}",
        r.stats.unreachables,
        r.stats
    );
    eprintln!(
        "down 2 s: {} reactions, {} datagrams sent",
        r.stats.unreachables, r.sent_while_down
    );
    assert!(
        r.sent_while_down <= 120,
        "{} datagrams while down",
        r.sent_while_down
    );
}

#[test]
fn forged_unreachables_every_100us_leave_a_healthy_transfer_byte_exact_and_counted() {
    let clean = run(u64::MAX, u64::MAX, Icmp::Every, 0);
    let forged = run(u64::MAX, u64::MAX, Icmp::Every, 100);
    assert_eq!(forged.status, ClientStatus::Done, "{:?}", forged.stats);
    assert!(forged.received == body(), "not byte-exact");
    assert_eq!(clean.stats.unreachables, 0);
    eprintln!(
        "forged every 100 us: {} requests (clean {}), {} acted on, {} not",
        forged.stats.requests_sent,
        clean.stats.requests_sent,
        forged.stats.unreachables,
        forged.stats.unreachables_paced
    );
    assert!(forged.stats.unreachables_paced > 500, "{:?}", forged.stats);
    // An answer resets the pacing, so a forger on the path can cause one extra restart per
    // answer at most; the transfer still ends, and never by giving up.
    assert!(
        forged.stats.requests_sent < clean.stats.requests_sent * 4,
        "forged {} requests, clean {}",
        forged.stats.requests_sent,
        clean.stats.requests_sent
    );
}

#[test]
fn an_unreachable_for_another_connection_another_server_or_a_reply_is_ignored() {
    let server: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let now = Instant(1_700_000_000_000_000);
    let mut client = ClientConnection::new(now, server, b"/f".to_vec(), ClientConfig::default(), 7);
    let hello = client.poll_transmit(now).expect("HELLO").payload;
    let mut other = ClientConnection::new(now, server, b"/f".to_vec(), ClientConfig::default(), 8);
    let foreign = other.poll_transmit(now).expect("HELLO").payload;

    assert!(!client.handle_unreachable(now, server, &foreign));
    assert!(!client.handle_unreachable(now, server, &hello[..4]));
    assert!(!client.handle_unreachable(now, server, b"garbage"));
    let elsewhere: SocketAddr = "198.18.0.9:4433".parse().unwrap();
    assert!(
        !client.handle_unreachable(now, elsewhere, &hello),
        "sent to another server"
    );
    assert!(client.poll_transmit(now).is_none());
    assert!(client.handle_unreachable(now, server, &hello));
    assert!(
        client.poll_transmit(now).is_some(),
        "the HELLO is sent again at once"
    );
    assert!(!client.handle_unreachable(now, server, &hello), "paced");
    assert_eq!(client.stats().unreachables, 1);
    assert_eq!(client.stats().unreachables_paced, 1);
}

#[test]
fn unreachables_never_use_up_the_hellos_of_a_server_that_is_away() {
    let server: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let config = ClientConfig::default();
    let mut now = Instant(1_700_000_000_000_000);
    let mut client = ClientConnection::new(now, server, b"/f".to_vec(), config.clone(), 7);
    let hello = client.poll_transmit(now).expect("HELLO").payload;
    // An unreachable every millisecond for 3 s: the client keeps trying, paced, and is still
    // connecting: only its timer's attempts count toward giving up.
    for _ in 0..3_000 {
        now = now + Duration::from_millis(1);
        client.handle_unreachable(now, server, &hello);
        client.handle_timeout(now);
        while client.poll_transmit(now).is_some() {}
    }
    assert_eq!(
        client.status(),
        ClientStatus::Connecting,
        "{:?}",
        client.stats()
    );
    assert!(client.stats().unreachables >= 5, "{:?}", client.stats());
}
