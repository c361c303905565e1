//! `datapath: userspace | xdp | auto` as a person meets it: without privileges the binary runs
//! the userspace datapath and says why (`auto`) or refuses to start naming the missing
//! capabilities (`xdp`); with them, `auto` falls back when a device has no native XDP, and a
//! transfer through the balancer with the program attached (generic XDP on loopback, where the
//! kernel routes locally and the program hands every frame up) stays byte-exact.
//!
//! The unprivileged runs drop to `nobody` when the tests run as root.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;
use trickles_balancer::xdp::privileges::check_this_process;
use trickles_testkit::free_udp_addr;

/// Runs the balancer unprivileged on a config with `datapath`; returns its stderr once a line
/// contains `wanted` (or after 20 s), and whether it was still running then (after waiting up
/// to 10 s for it to exit when `expect_exit`).
fn run_unprivileged(datapath: &str, wanted: &str, expect_exit: bool) -> (String, bool) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("balancer.yaml");
    let yaml = balancer_yaml(
        free_udp_addr(),
        &[free_udp_addr()],
        &format!("datapath: {datapath}\nxdp_interfaces: [lo]\n"),
    );
    std::fs::write(&path, yaml).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-balancer"));
    command
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    }
    let mut child = command.spawn().expect("start trickles-balancer");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(20)) {
        text.push_str(&line);
        text.push('\n');
        if line.contains(wanted) {
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while expect_exit
        && child.try_wait().expect("status").is_none()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().expect("status").is_none();
    let _ = child.kill();
    let _ = child.wait();
    (text, running)
}

#[test]
fn without_privileges_auto_runs_the_userspace_datapath_and_says_why() {
    let (stderr, running) = run_unprivileged("auto", "datapath auto", false);
    assert!(
        stderr.contains("datapath auto: running the userspace datapath only: missing capabilities: CAP_BPF and CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert!(
        running,
        "it keeps running on the userspace datapath:\n{stderr}"
    );
}

#[test]
fn without_privileges_xdp_refuses_to_start_and_names_the_capabilities() {
    let (stderr, running) = run_unprivileged("xdp", "XDP datapath", true);
    assert!(
        stderr.contains("XDP datapath: missing capabilities: CAP_BPF and CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert!(!running, "it must exit:\n{stderr}");
}

fn privileged() -> bool {
    match check_this_process() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: needs the privileges to attach XDP programs: {e}");
            false
        }
    }
}

#[test]
fn auto_falls_back_when_the_device_has_no_native_xdp() {
    if !privileged() {
        return;
    }
    let vip = free_udp_addr();
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(
            vip,
            &[free_udp_addr()],
            "datapath: auto\nxdp_interfaces: [lo]\n",
        )),
    );
    assert!(!balancer.xdp_attached(), "lo has no native XDP");
    runtime.block_on(balancer.shutdown());
}

#[test]
fn a_transfer_through_the_attached_program_is_byte_exact() {
    if !privileged() {
        return;
    }
    let body = body(2 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (_replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(
            vip,
            &addrs,
            "datapath: xdp\nxdp_interfaces: [lo]\nxdp_mode: generic\n",
        )),
    );
    assert!(balancer.xdp_attached());
    assert_eq!(active_within_10_s(&balancer, 3), 3);
    let stats = fetch_through(vip);
    assert_eq!(stats.sha256, sha256(&body), "byte-exact");
    let metrics = balancer.metrics().clone();
    runtime.block_on(balancer.shutdown());
    // After the shutdown's last flush: loopback routes locally, so the program handed every
    // frame up (no next hop) and the userspace datapath forwarded it.
    let text = trickles_netfn::render(&metrics.registry);
    assert!(
        text.contains("trickles_balancer_datapath_info{datapath=\"xdp\"} 1"),
        "{text}"
    );
    let no_route = metrics_value(
        &text,
        "trickles_balancer_xdp_passed_total{reason=\"no_route\"}",
    );
    assert!(no_route > 100.0, "frames handed up: {no_route}\n{text}");
}

fn metrics_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
