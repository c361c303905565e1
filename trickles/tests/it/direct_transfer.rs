//! End-to-end transfers between a client and one or more replicas wired directly (no
//! simulator): the smallest harness that exercises the whole protocol, with a loss pattern.

use std::collections::VecDeque;
use std::net::SocketAddr;

use trickles::app::MemoryApplication;
use trickles::client::{ClientConfig, ClientConnection, ClientStatus};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles_testkit::test_keys;

const ONE_WAY: Duration = Duration(5_000);

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

/// Run a transfer of `len` bytes over `replicas` servers (packets alternate between them);
/// `drop` decides, for the n-th datagram in either direction, whether it is lost.
fn transfer(
    len: usize,
    replicas: usize,
    drop: impl Fn(u64, Duration) -> bool,
) -> (ClientStatus, Vec<u8>, trickles::client::ClientStats) {
    let (status, got, stats, _) =
        transfer_with(len, replicas, ClientConfig::default(), usize::MAX, drop);
    (status, got, stats)
}

/// As [`transfer`], with a client configuration and a reader that takes at most `read_chunk`
/// bytes per event; also returns the most bytes the client ever buffered.
fn transfer_with(
    len: usize,
    replicas: usize,
    config: ClientConfig,
    read_chunk: usize,
    drop: impl Fn(u64, Duration) -> bool,
) -> (ClientStatus, Vec<u8>, trickles::client::ClientStats, usize) {
    let data = body(len);
    let mut servers: Vec<_> = (0..replicas)
        .map(|i| {
            let mut app = MemoryApplication::new();
            app.insert("/f", data.clone());
            ServerEndpoint::new(ServerConfig::default(), test_keys(), app, i as u64)
        })
        .collect();
    let server_addr: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let client_addr: SocketAddr = "198.18.0.2:50000".parse().unwrap();
    let start = Instant(1_700_000_000_000_000);
    let mut now = start;
    let mut client = ClientConnection::new(now, server_addr, b"/f".to_vec(), config, 7);
    let mut max_buffered = 0;
    // (arrival time, to_server, payload)
    let mut wire: VecDeque<(Instant, bool, Vec<u8>)> = VecDeque::new();
    let mut received = Vec::new();
    let mut n = 0u64;
    let mut next_replica = 0;
    let deadline = now + Duration::from_secs(600);
    while now < deadline {
        while let Some(t) = client.poll_transmit(now) {
            n += 1;
            if !drop(n, now.saturating_since(start)) {
                wire.push_back((now + ONE_WAY, true, t.payload));
            }
        }
        max_buffered = max_buffered.max(client.buffered_bytes());
        max_buffered = max_buffered.max(client.buffered_bytes());
        let mut buf = [0u8; 65536];
        let mut budget = read_chunk;
        while budget > 0 {
            let k = client.read(&mut buf[..budget.min(65536)]);
            if k == 0 {
                break;
            }
            budget -= k;
            received.extend_from_slice(&buf[..k]);
        }
        if matches!(
            client.status(),
            ClientStatus::Done | ClientStatus::Failed(_)
        ) {
            break;
        }
        let next_wire = wire.front().map(|w| w.0);
        let next_timer = client.poll_timeout();
        let next = match (next_wire, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        // The reader runs at least once per millisecond of virtual time.
        let next = next.min(now + Duration::from_millis(1));
        now = now.max(next);
        if next_wire == Some(next) {
            let (_, to_server, payload) = wire.pop_front().unwrap();
            if to_server {
                let mut out = Vec::new();
                let s = &mut servers[next_replica % replicas];
                next_replica += 1;
                let r = s.handle_datagram(now, client_addr, &payload, &mut out);
                if std::env::var("TRACE").is_ok() {
                    eprintln!("{:?} server: {:?}", now, r);
                }
                for t in out {
                    n += 1;
                    if !drop(n, now.saturating_since(start)) {
                        wire.push_back((now + ONE_WAY, false, t.payload));
                    }
                }
            } else {
                client.handle_datagram(now, server_addr, &payload);
            }
        } else {
            client.handle_timeout(now);
        }
    }
    let mut buf = [0u8; 65536];
    loop {
        let k = client.read(&mut buf);
        if k == 0 {
            break;
        }
        received.extend_from_slice(&buf[..k]);
    }
    assert_eq!(received.len(), data.len().min(received.len()));
    (client.status(), received, client.stats(), max_buffered)
}

#[test]
fn lossless_transfer_is_byte_exact() {
    for len in [0, 1, 1199, 1200, 1201, 100_000, 1_000_000] {
        let (status, got, _) = transfer(len, 1, |_, _| false);
        assert_eq!(status, ClientStatus::Done, "len {len}");
        assert_eq!(got, body(len), "len {len}");
    }
}

#[test]
fn packets_alternating_between_two_replicas_are_byte_exact() {
    let (status, got, _) = transfer(500_000, 2, |_, _| false);
    assert_eq!(status, ClientStatus::Done);
    assert_eq!(got, body(500_000));
}

#[test]
fn transfer_with_periodic_loss_is_byte_exact() {
    for period in [7u64, 13, 50, 101] {
        let (status, got, stats) = transfer(300_000, 1, |n, _| n % period == 0);
        assert_eq!(status, ClientStatus::Done, "period {period}: {stats:?}");
        assert_eq!(got, body(300_000), "period {period}");
    }
}

#[test]
fn transfer_survives_a_long_burst_loss() {
    // Everything sent in [from, from + len) milliseconds is lost, both directions.
    for (from, len) in [(30u64, 20u64), (50, 5), (100, 300), (200, 1_500)] {
        let (status, got, stats) = transfer(2_000_000, 1, |_, t| {
            t >= Duration::from_millis(from) && t < Duration::from_millis(from + len)
        });
        assert_eq!(status, ClientStatus::Done, "burst {from}+{len}: {stats:?}");
        assert_eq!(got, body(2_000_000), "burst {from}+{len}");
    }
}

#[test]
fn a_slow_reader_bounds_what_the_client_buffers() {
    let config = ClientConfig {
        receive_window: 60_000,
        ..ClientConfig::default()
    };
    let (status, got, stats, max_buffered) = transfer_with(600_000, 1, config, 400, |_, _| false);
    assert_eq!(status, ClientStatus::Done, "{stats:?}");
    assert_eq!(got, body(600_000));
    assert!(max_buffered <= 60_000, "buffered {max_buffered}");
    assert_eq!(stats.duplicate_packets, 0);
}
