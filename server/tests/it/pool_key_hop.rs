//! Claims about a replica started with a pool key (`--pool-key`): it says so at start, and an
//! encapsulated datagram without the balancer's hop tag, or with a wrong one, is counted and
//! dropped with a log line naming its source — even when it comes from the very address the
//! replica lists as its balancer (what a spoofer sends from) — while a tagged one is let through
//! to the core. IPv4 and IPv6.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::dir_with_root_and_keys;
use trickles_netfn::encap::EncapRepr;
use trickles_netfn::hop_auth::{self, Direction};
use trickles_netfn::{AuthKey, PoolKey};
use trickles_testkit::ChildProcess;

const LIMIT: Duration = Duration::from_secs(20);
const SECRET: &str = "8f0c1d2e3f405162738495a6b7c8d9ea";

fn free_tcp(ip: &str) -> SocketAddr {
    TcpListener::bind(format!("{ip}:0"))
        .expect("probe")
        .local_addr()
        .expect("addr")
}

/// The replica's count of `reason` drops.
fn dropped(metrics: SocketAddr, reason: &str) -> u64 {
    counter(
        metrics,
        &format!("trickles_server_continuations_rejected_total{{reason=\"{reason}\"}}"),
    )
}

fn forged_headers_are_refused_on(ip: &str) {
    let dir = dir_with_root_and_keys();
    let key_path = dir.path().join("pool.key");
    std::fs::write(&key_path, format!("id: 4\nsecret: {SECRET}\n")).expect("key");
    let balancer = UdpSocket::bind(format!("{ip}:0")).expect("bind");
    let balancer_addr = balancer.local_addr().expect("addr");
    let listen = UdpSocket::bind(format!("{ip}:0"))
        .expect("probe")
        .local_addr()
        .expect("addr");
    let metrics = free_tcp(ip);
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-server"));
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .args(["--listen", &listen.to_string()])
        .args(["--balancer", &balancer_addr.to_string()])
        .args(["--metrics", &metrics.to_string()])
        .arg("--pool-key")
        .arg(&key_path)
        .args(["--workers", "1", "--root"])
        .arg(dir.path().join("www"))
        .arg("--key-file")
        .arg(dir.path().join("keys.yaml"));
    let mut server =
        ChildProcess::spawn("server", command, &dir.path().join("server.log")).expect("spawn");
    server
        .wait_for_log_text("serving Trickles over UDP", LIMIT)
        .expect("the server starts");
    assert!(
        server.log_text().contains("pool key set"),
        "{}",
        server.log_text()
    );

    let client: SocketAddr = if listen.is_ipv6() {
        "[2001:2::7]:40000".parse().expect("addr")
    } else {
        "198.18.0.7:40000".parse().expect("addr")
    };
    let hello = b"\x01\x01not a real hello";
    let untagged = EncapRepr::new(client).encapsulate(hello);
    let wrong_key = PoolKey(AuthKey::from_hex(4, &"00".repeat(16)).expect("key"));
    let right_key = PoolKey(AuthKey::from_hex(4, SECRET).expect("key"));
    let signed = |key: &PoolKey| {
        let mut wire = vec![0u8; hop_auth::TAGGED_HEADER_MAX];
        let len = hop_auth::sign_header(
            &EncapRepr::new(client),
            None,
            balancer_addr,
            Direction::ToReplica,
            key,
            hop_auth::unix_now() as u32,
            &mut wire,
        )
        .expect("fits");
        wire.truncate(len);
        wire.extend_from_slice(hello);
        wire
    };
    let wrong = signed(&wrong_key);
    let deadline = Instant::now() + LIMIT;
    while dropped(metrics, "missing_tag") == 0 || dropped(metrics, "bad_tag") == 0 {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        balancer.send_to(&untagged, listen).expect("send");
        balancer.send_to(&wrong, listen).expect("send");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.log_text();
    assert!(
        log.contains(&format!("the last from {balancer_addr}")),
        "{log}"
    );

    // A tagged datagram passes the hop check: the core judges it (and refuses this fake HELLO
    // for its own reasons), no tag drop is added.
    let tag_drops = dropped(metrics, "missing_tag") + dropped(metrics, "bad_tag");
    let received_before = counter(metrics, "trickles_server_packets_received_total");
    balancer.send_to(&signed(&right_key), listen).expect("send");
    while counter(metrics, "trickles_server_packets_received_total") <= received_before {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        dropped(metrics, "missing_tag")
            + dropped(metrics, "bad_tag")
            + dropped(metrics, "stale_tag"),
        tag_drops
    );
    server.terminate(Duration::from_secs(5)).expect("stop");
}

fn counter(metrics: SocketAddr, name: &str) -> u64 {
    let Ok(response) = trickles_netfn::http_get(metrics, "/metrics", Duration::from_secs(5)) else {
        return 0;
    };
    let needle = format!("{name} ");
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_replica_with_a_pool_key_refuses_untagged_and_mistagged_ipv4_headers() {
    forged_headers_are_refused_on("127.0.0.1");
}

#[test]
fn a_replica_with_a_pool_key_refuses_untagged_and_mistagged_ipv6_headers() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    forged_headers_are_refused_on("[::1]");
}

#[test]
fn a_replica_without_a_pool_key_says_it_trusts_source_addresses() {
    let dir = dir_with_root_and_keys();
    let listen = UdpSocket::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-server"));
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .args(["--listen", &listen.to_string()])
        .args(["--workers", "1", "--root"])
        .arg(dir.path().join("www"))
        .arg("--key-file")
        .arg(dir.path().join("keys.yaml"));
    let mut server =
        ChildProcess::spawn("server", command, &dir.path().join("server.log")).expect("spawn");
    server
        .wait_for_log_text(
            "no pool key: encapsulated datagrams are trusted by source address alone",
            LIMIT,
        )
        .expect("the server says how it trusts");
    server.terminate(Duration::from_secs(5)).expect("stop");
}
