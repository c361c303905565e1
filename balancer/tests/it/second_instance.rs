//! Claims about a second `trickles-balancer` process (with another backend list) started on a
//! VIP another one already serves, on 127.0.0.1 and ::1: it refuses to start, saying the address
//! is in use by another process (it used to join the first one's `SO_REUSEPORT` group silently
//! and send part of the clients to its own backends), unless `share_port: true` asks for it.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use trickles_testkit::ports::free_udp_addr_on;
use trickles_testkit::ChildProcess;

/// Longest a balancer may take to start or to refuse to (a loaded debug build: generous).
const LIMIT: Duration = Duration::from_secs(20);

/// Starts a balancer of `vip` in front of `backend` (nothing listens there: it stays down).
fn balancer(
    dir: &tempfile::TempDir,
    name: &str,
    vip: SocketAddr,
    backend: SocketAddr,
    extra: &str,
) -> ChildProcess {
    let config = dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "listen: [\"{vip}\"]\n{extra}backends:\n  - name: r1\n    address: \"{backend}\"\n"
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-balancer"));
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(&config);
    ChildProcess::spawn(name, command, &dir.path().join(format!("{name}.log"))).expect("spawn")
}

fn second_balancer_on(ip: IpAddr) {
    let dir = tempfile::tempdir().expect("dir");
    let free = || free_udp_addr_on(ip).expect("a free port");
    let vip = free();
    let mut first = balancer(&dir, "first", vip, free(), "");
    first
        .wait_for_log_text("balancing", LIMIT)
        .expect("the first balancer starts");

    let mut second = balancer(&dir, "second", vip, free(), "");
    let status = second
        .wait_for(LIMIT)
        .expect("the second balancer must stop by itself, not serve");
    assert!(!status.success(), "the second balancer exited with success");
    let said = second.log_text();
    assert!(
        said.contains(&format!(
            "cannot bind {vip}: address in use by another process"
        )),
        "{said}"
    );
    assert!(said.contains("share_port: true"), "{said}");

    let mut shared = balancer(&dir, "sharing", vip, free(), "share_port: true\n");
    shared
        .wait_for_log_text("balancing", LIMIT)
        .expect("with share_port the second balancer starts");
    shared.terminate(Duration::from_secs(5)).expect("stop");
    first.terminate(Duration::from_secs(5)).expect("stop");
}

#[test]
fn second_balancer_on_a_served_ipv4_vip_refuses_unless_sharing_is_asked_for() {
    second_balancer_on("127.0.0.1".parse().expect("ip"));
}

#[test]
fn second_balancer_on_a_served_ipv6_vip_refuses_unless_sharing_is_asked_for() {
    let ip: IpAddr = "::1".parse().expect("ip");
    if free_udp_addr_on(ip).is_none() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    second_balancer_on(ip);
}
