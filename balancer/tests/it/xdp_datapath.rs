//! `datapath: userspace | xdp | auto` as a person meets it: without privileges the binary runs
//! the userspace datapath and says why (`auto`) or refuses to start naming the missing
//! capabilities (`xdp`); with them, `auto` falls back when a device has no native XDP, and a
//! transfer through the balancer with the program attached (generic XDP on loopback, where the
//! kernel routes locally and the program hands every frame up) stays byte-exact; a reload
//! keeps the program attached, and one to a table it cannot hold (spraying) detaches it while
//! the sockets carry on; a SIGKILLed balancer leaves no program attached.
//!
//! The unprivileged runs drop to `nobody` when the tests run as root; the privileged ones run
//! in a network namespace of their own, so the program on its loopback sees no other traffic.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;
use trickles_balancer::xdp::privileges::check_this_process;
use trickles_testkit::free_udp_addr;

/// Runs the balancer unprivileged with `datapath`: its log up to `wanted`, and whether it
/// still ran then.
fn run_unprivileged(datapath: &str, wanted: &str, expect_exit: bool) -> (String, bool) {
    let yaml = balancer_yaml(
        free_udp_addr(),
        &[free_udp_addr()],
        &format!("datapath: {datapath}\nxdp_interfaces: [lo]\n"),
    );
    let run = trickles_testkit::unprivileged::run_unprivileged(
        std::path::Path::new(env!("CARGO_BIN_EXE_trickles-balancer")),
        &yaml,
        wanted,
        expect_exit,
    );
    (run.log, run.still_running)
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

/// Runs `body` in a fresh network namespace (its own loopback: the programs attached there
/// touch no other process's traffic), deleted afterwards.
fn in_own_namespace(role: &str, body: impl FnOnce() + Send) {
    let namespace = trickles_testkit::namespace::Namespace::create(role).expect("namespace");
    namespace
        .handle()
        .run_inside(body)
        .expect("enter the namespace");
}

#[test]
fn auto_falls_back_when_the_device_has_no_native_xdp() {
    if !privileged() {
        return;
    }
    in_own_namespace("xdp-fallback", auto_falls_back_on_lo);
}

fn auto_falls_back_on_lo() {
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
    in_own_namespace("xdp-transfer", transfer_through_generic_xdp_on_lo);
}

fn transfer_through_generic_xdp_on_lo() {
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

#[test]
fn a_reload_keeps_the_program_attached_and_one_it_cannot_hold_hands_over_to_userspace() {
    if !privileged() {
        return;
    }
    in_own_namespace("xdp-reload", reload_with_the_program_attached);
}

fn reload_with_the_program_attached() {
    let body = body(1 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (_replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let xdp = "datapath: xdp\nxdp_interfaces: [lo]\nxdp_mode: generic\n";
    let balancer = start_balancer(&runtime, config(&balancer_yaml(vip, &addrs, xdp)));
    assert_eq!(active_within_10_s(&balancer, 3), 3);
    let datapath = |b: &trickles_balancer::service::RunningBalancer| {
        let text = trickles_netfn::render(&b.metrics().registry);
        metrics_value(&text, "trickles_balancer_datapath_info{datapath=\"xdp\"}")
    };

    // A drain: a new table in the idle generation, flipped; the program stays.
    let drained = balancer_yaml(vip, &addrs, xdp).replace(
        &format!("    address: \"{}\"\n", addrs[1]),
        &format!("    address: \"{}\"\n    drain: true\n", addrs[1]),
    );
    balancer.apply(config(&drained));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while balancer.table().active().len() != 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(balancer.table().active().len(), 2, "r1 drained");
    assert_eq!(fetch_through(vip).sha256, sha256(&body), "byte-exact");
    assert_eq!(datapath(&balancer), 1.0, "still attached after the reload");

    // Spraying keeps per-worker state: the program detaches, the sockets carry on.
    let spraying = format!("{xdp}policy: round_robin\n");
    balancer.apply(config(&balancer_yaml(vip, &addrs, &spraying)));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while datapath(&balancer) != 0.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(datapath(&balancer), 0.0, "detached for a spraying policy");
    assert_eq!(
        fetch_through(vip).sha256,
        sha256(&body),
        "byte-exact on userspace"
    );
    runtime.block_on(balancer.shutdown());
}

#[test]
fn a_killed_balancer_leaves_no_program_attached() {
    if !privileged() {
        return;
    }
    let namespace = trickles_testkit::namespace::Namespace::create("xdp-kill").expect("namespace");
    namespace
        .ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        .expect("veth pair");
    namespace
        .ip(&["address", "add", "198.18.20.1/24", "dev", "v0"])
        .expect("address");
    for device in ["v0", "v1"] {
        namespace
            .ip(&["link", "set", device, "up"])
            .expect("link up");
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("balancer.yaml");
    let yaml = balancer_yaml(
        "198.18.20.1:4433".parse().expect("vip"),
        &["198.18.20.2:5001".parse().expect("backend")],
        "datapath: xdp\nxdp_interfaces: [v0]\n",
    );
    std::fs::write(&path, yaml).expect("write");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-balancer"));
    command
        .arg("--config")
        .arg(&path)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    namespace.handle().enter(&mut command).expect("enter");
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
    let mut log = String::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(20)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("XDP datapath attached") {
            break;
        }
    }
    let attached = |ns: &trickles_testkit::namespace::Namespace| {
        ns.ip(&["link", "show", "v0"])
            .expect("ip link")
            .contains("prog/xdp")
    };
    let was_attached = attached(&namespace);
    let _ = child.kill(); // SIGKILL: no shutdown path runs
    let _ = child.wait();
    assert!(was_attached, "the program was attached:\n{log}");
    // The attachment is a BPF link owned by the process: the kernel releases it with the
    // process's file descriptors.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while attached(&namespace) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!attached(&namespace), "still attached after SIGKILL");
}
