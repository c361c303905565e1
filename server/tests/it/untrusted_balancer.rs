//! Claims about a replica given the wrong `--balancer` address, as a new user would (the
//! balancer forwards from its VIP in direct-return mode): the `trickles-server` process says at
//! start which sources it trusts, and when it drops an encapsulated datagram from another
//! source it logs that source and the trusted list (it used to drop every request silently).

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::dir_with_root_and_keys;
use trickles_netfn::encap::EncapRepr;
use trickles_testkit::ChildProcess;

const LIMIT: Duration = Duration::from_secs(20);

fn free_address(ip: &str) -> SocketAddr {
    UdpSocket::bind(format!("{ip}:0"))
        .expect("probe")
        .local_addr()
        .expect("addr")
}

fn refused_source_is_logged_on(ip: &str) {
    let dir = dir_with_root_and_keys();
    let listen = free_address(ip);
    let trusted = free_address(ip);
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-server"));
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .args(["--listen", &listen.to_string()])
        .args(["--balancer", &trusted.to_string()])
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
        server.log_text().contains(&format!(
            "trusting encapsulated datagrams only from {trusted}"
        )),
        "no start-up hint:\n{}",
        server.log_text()
    );

    let vip = UdpSocket::bind(format!("{ip}:0")).expect("bind");
    let vip_addr = vip.local_addr().expect("addr");
    let client: SocketAddr = if listen.is_ipv6() {
        "[2001:2::7]:40000".parse().expect("addr")
    } else {
        "198.18.0.7:40000".parse().expect("addr")
    };
    let wire = EncapRepr::new(client).encapsulate(b"\x01\x01not a real hello");
    let needle = format!("untrusted_encap) from {vip_addr}");
    let deadline = Instant::now() + LIMIT;
    while !server.log_text().contains(&needle) {
        assert!(
            Instant::now() < deadline,
            "no log line naming {vip_addr}:\n{}",
            server.log_text()
        );
        vip.send_to(&wire, listen).expect("send");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "trusts the encapsulation header only from {trusted}"
        )),
        "{log}"
    );
    server.terminate(Duration::from_secs(5)).expect("stop");
}

#[test]
fn replica_names_an_untrusted_ipv4_balancer_and_what_it_trusts() {
    refused_source_is_logged_on("127.0.0.1");
}

#[test]
fn replica_names_an_untrusted_ipv6_balancer_and_what_it_trusts() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    refused_source_is_logged_on("[::1]");
}
