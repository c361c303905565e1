//! Claims about a second `trickles-server` process started on an address another one already
//! serves, on 127.0.0.1 and ::1: it refuses to start, saying the address is in use by another
//! process (it used to join the first one's `SO_REUSEPORT` group silently and take part of its
//! clients), unless sharing is asked for with `--share-port`.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use crate::support::dir_with_root_and_keys;
use trickles_testkit::ChildProcess;

/// Longest a server may take to start or to refuse to (a loaded debug build: generous).
const LIMIT: Duration = Duration::from_secs(20);

/// A `trickles-server` command serving a fresh directory on `listen`.
fn server(dir: &tempfile::TempDir, listen: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-server"));
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .arg("--listen")
        .arg(listen.to_string())
        .args(["--workers", "2", "--root"])
        .arg(dir.path().join("www"))
        .arg("--key-file")
        .arg(dir.path().join("keys.yaml"));
    command
}

/// An address of `ip` whose port was free a moment ago.
fn free_address(ip: &str) -> SocketAddr {
    let probe = UdpSocket::bind(format!("{ip}:0")).expect("probe");
    probe.local_addr().expect("addr")
}

fn second_instance_on(ip: &str) {
    let dir = dir_with_root_and_keys();
    let addr = free_address(ip);
    let mut first = ChildProcess::spawn("first", server(&dir, addr), &dir.path().join("first.log"))
        .expect("start the first server");
    first
        .wait_for_log_text("serving Trickles over UDP", LIMIT)
        .expect("the first server starts");

    let log = dir.path().join("second.log");
    let mut second = ChildProcess::spawn("second", server(&dir, addr), &log).expect("spawn");
    let status = second
        .wait_for(LIMIT)
        .expect("the second server must stop by itself, not serve");
    assert!(!status.success(), "the second server exited with success");
    let said = second.log_text();
    assert!(
        said.contains(&format!(
            "cannot bind {addr}: address in use by another process"
        )),
        "{said}"
    );
    assert!(said.contains("--share-port"), "{said}");

    let mut sharing = server(&dir, addr);
    sharing.arg("--share-port");
    let log = dir.path().join("sharing.log");
    let mut shared = ChildProcess::spawn("sharing", sharing, &log).expect("spawn");
    shared
        .wait_for_log_text("serving Trickles over UDP", LIMIT)
        .expect("with --share-port the second server starts");
    shared.terminate(Duration::from_secs(5)).expect("stop");
    first.terminate(Duration::from_secs(5)).expect("stop");
}

#[test]
fn second_server_on_a_served_ipv4_address_refuses_unless_sharing_is_asked_for() {
    second_instance_on("127.0.0.1");
}

#[test]
fn second_server_on_a_served_ipv6_address_refuses_unless_sharing_is_asked_for() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    second_instance_on("[::1]");
}
