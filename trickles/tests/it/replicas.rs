//! A client given several replicas ([`ClientConnection::with_replicas`]) moves to the next
//! when the one it uses dies, and finishes there byte-exact: at once when the dead replica's
//! host says "port unreachable" (even rate-limited, as Linux does), after one retransmission
//! timeout when it stays silent. In virtual time: three replicas with the same key at different
//! round trips; the best one's process dies mid-transfer and never comes back.

use std::collections::VecDeque;
use std::net::SocketAddr;

use trickles::app::MemoryApplication;
use trickles::client::{ClientConfig, ClientConnection, ClientStats, ClientStatus};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles_testkit::test_keys;

const LEN: usize = 3_000_000;
/// The replicas' one-way delays, best first.
const ONE_WAY_MS: [u64; 3] = [5, 8, 12];
/// When the best replica dies (virtual ms).
const KILL_MS: u64 = 60;

fn body() -> Vec<u8> {
    (0..LEN).map(|i| (i * 11 % 251) as u8).collect()
}

enum Wire {
    ToReplica(usize, Vec<u8>),
    ToClient(Vec<u8>),
    Unreachable(Vec<u8>),
}

struct Run {
    status: ClientStatus,
    received: Vec<u8>,
    stats: ClientStats,
    /// The longest time without a new byte after the kill (ms).
    outage_ms: u64,
    /// Where the connection finished.
    server: SocketAddr,
}

fn replica_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 18, 1, i as u8 + 1], 4433))
}

/// One transfer over the replicas; replica 0 dies at [`KILL_MS`]; its host answers with at
/// most 6 unreachables (Linux's burst, then none for the rest of the second) if `icmp`.
fn run(icmp: bool) -> Run {
    let data = body();
    let mut replicas: Vec<ServerEndpoint<MemoryApplication>> = (0..3)
        .map(|_| {
            let mut app = MemoryApplication::new();
            app.insert("/f", data.clone());
            ServerEndpoint::new(ServerConfig::default(), test_keys(), app, 1)
        })
        .collect();
    let addrs: Vec<SocketAddr> = (0..3).map(replica_addr).collect();
    let client_addr: SocketAddr = "198.18.0.2:50000".parse().unwrap();
    let start = Instant(1_700_000_000_000_000);
    let ms = |t: Instant| t.saturating_since(start).millis();
    let mut now = start;
    let mut client =
        ClientConnection::new(now, addrs[0], b"/f".to_vec(), ClientConfig::default(), 9)
            .with_replicas(addrs.clone());
    let mut wire: Vec<(Instant, Wire)> = Vec::new();
    let (mut received, mut tokens) = (Vec::new(), 6u32);
    let (mut last_byte, mut outage) = (start, 0u64);
    let mut buf = vec![0u8; 65536];
    let deadline = now + Duration::from_secs(60);
    while now < deadline {
        while let Some(t) = client.poll_transmit(now) {
            let i = addrs
                .iter()
                .position(|&a| a == t.destination)
                .expect("a replica");
            let at = now + Duration::from_millis(ONE_WAY_MS[i]);
            wire.push((at, Wire::ToReplica(i, t.payload)));
        }
        loop {
            let k = client.read(&mut buf);
            if k == 0 {
                break;
            }
            if ms(now) >= KILL_MS {
                outage = outage.max(now.saturating_since(last_byte).millis());
            }
            last_byte = now;
            received.extend_from_slice(&buf[..k]);
        }
        if matches!(
            client.status(),
            ClientStatus::Done | ClientStatus::Failed(_)
        ) {
            break;
        }
        let mut next = now + Duration::from_millis(1);
        if let Some(at) = wire.iter().map(|(at, _)| *at).min() {
            next = next.min(at);
        }
        if let Some(at) = client.poll_timeout() {
            next = next.min(at);
        }
        now = now.max(next);
        wire.sort_by_key(|(at, _)| *at);
        let due = wire.iter().take_while(|(at, _)| *at <= now).count();
        let arrived: VecDeque<(Instant, Wire)> = wire.drain(..due).collect();
        for (_, item) in arrived {
            match item {
                Wire::ToReplica(0, payload) if ms(now) >= KILL_MS => {
                    if icmp && tokens > 0 {
                        tokens -= 1;
                        let back = now + Duration::from_millis(ONE_WAY_MS[0]);
                        wire.push((back, Wire::Unreachable(payload)));
                    }
                }
                Wire::ToReplica(i, payload) => {
                    let mut out = Vec::new();
                    let _ = replicas[i].handle_datagram(now, client_addr, &payload, &mut out);
                    let back = now + Duration::from_millis(ONE_WAY_MS[i]);
                    for t in out {
                        wire.push((back, Wire::ToClient(t.payload)));
                    }
                }
                Wire::ToClient(payload) => client.handle_datagram(now, addrs[0], &payload),
                Wire::Unreachable(quoted) => {
                    client.handle_unreachable(now, addrs[0], &quoted);
                }
            }
        }
        client.handle_timeout(now);
    }
    Run {
        status: client.status(),
        received,
        stats: client.stats(),
        outage_ms: outage,
        server: client.server(),
    }
}

#[test]
fn the_best_replica_killed_with_port_unreachable_is_left_for_the_next_within_100ms() {
    let r = run(true);
    assert_eq!(r.status, ClientStatus::Done, "{:?}", r.stats);
    assert!(r.received == body(), "not byte-exact");
    eprintln!("told: outage {} ms, {:?}", r.outage_ms, r.stats);
    assert_ne!(r.server, replica_addr(0), "still on the dead replica");
    assert!(r.stats.replica_moves >= 1, "{:?}", r.stats);
    assert!(
        r.outage_ms < 100,
        "outage {} ms: {:?}",
        r.outage_ms,
        r.stats
    );
}

#[test]
fn the_best_replica_dying_silently_is_left_after_one_timeout() {
    let r = run(false);
    assert_eq!(r.status, ClientStatus::Done, "{:?}", r.stats);
    assert!(r.received == body(), "not byte-exact");
    eprintln!("silent: outage {} ms, {:?}", r.outage_ms, r.stats);
    assert_ne!(r.server, replica_addr(0));
    assert_eq!(r.stats.unreachables, 0);
    // One RTO (the 200 ms minimum) and the round trips to the next replica, not a backed-off
    // chain of timeouts at the dead one.
    assert!(
        r.outage_ms < 450,
        "outage {} ms: {:?}",
        r.outage_ms,
        r.stats
    );
}

#[test]
fn a_client_without_replicas_stays_with_its_server() {
    let server: SocketAddr = replica_addr(0);
    let mut now = Instant(1_700_000_000_000_000);
    let mut client = ClientConnection::new(now, server, b"/f".to_vec(), ClientConfig::default(), 7);
    let hello = client.poll_transmit(now).expect("HELLO").payload;
    for _ in 0..10 {
        now = now + Duration::from_millis(20);
        client.handle_unreachable(now, server, &hello);
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now) {
            assert_eq!(t.destination, server);
        }
    }
    assert_eq!(client.stats().replica_moves, 0);
}
