//! `trickles-lab exp memory` at a reduced size (needs root, as CI has): the server's memory is
//! flat in the number of Trickles clients and grows with the number of TCP clients, every
//! client really had a connection, and the CSV and figures are written. Also: without root, the
//! lab refuses with a clear message and a non-zero exit.

use std::os::unix::process::CommandExt;
use std::process::Command;

use trickles_lab::experiments::context::Protocol;
use trickles_lab::experiments::memory::{run, MemoryArgs};

#[test]
fn trickles_memory_is_flat_while_tcp_memory_grows_with_clients() {
    super::kit::root("the experiment test");
    super::kit::binaries();
    let out = tempfile::tempdir().expect("tempdir");
    let outcome =
        run(&MemoryArgs::reduced(out.path().to_path_buf())).unwrap_or_else(|e| panic!("{e}"));
    let largest = *MemoryArgs::reduced(out.path().to_path_buf())
        .clients
        .last()
        .expect("client counts");
    for point in &outcome.points {
        match point.protocol {
            Protocol::Trickles => assert!(
                point.trickles_hellos >= u64::from(point.clients),
                "{point:?}: fewer HELLOs than clients"
            ),
            Protocol::Tcp => assert_eq!(
                point.tcp_established,
                u64::from(point.clients),
                "{point:?}: not every TCP client was connected while sampling"
            ),
        }
    }
    let trickles = outcome.growth(Protocol::Trickles);
    let tcp = outcome.growth(Protocol::Tcp);
    assert!(
        trickles < 1.15,
        "Trickles server memory grew {trickles:.2}x up to {largest} clients"
    );
    assert!(
        tcp > 2.0,
        "TCP server memory grew only {tcp:.2}x up to {largest} clients"
    );
    super::kit::assert_written(&outcome.report);
}

#[test]
fn without_root_the_experiment_refuses_and_says_why() {
    let output = Command::new(env!("CARGO_BIN_EXE_trickles-lab"))
        .args(["exp", "memory", "--out", "/nonexistent-unused"])
        .uid(65_534)
        .gid(65_534)
        .output()
        .expect("run trickles-lab as nobody");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(77), "stderr: {stderr}");
    assert!(stderr.contains("needs root"), "stderr: {stderr}");
    assert!(stderr.contains("CAP_NET_ADMIN"), "stderr: {stderr}");
}

/// Ctrl-C in the middle of a run: the lab exits with 130, its namespaces are gone and so is
/// every process that ran in them.
#[test]
fn an_interrupted_experiment_leaves_no_namespace_or_process_behind() {
    let bin_dir = super::kit::binaries()
        .server
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let out = tempfile::tempdir().expect("tempdir");
    let mut lab = Command::new(env!("CARGO_BIN_EXE_trickles-lab"))
        .args(["exp", "memory", "--clients", "50", "--rate-mbit", "10"])
        .args(["--file-size", "8MiB", "--settle-seconds", "60"])
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start trickles-lab");
    let prefix = format!("trl{}-", lab.id());
    let ours = || -> Vec<String> {
        let listing = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| name.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    };
    // Wait for the testbed and for processes in it (the server and the clients).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut pids: Vec<u32> = Vec::new();
    while pids.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no testbed with processes appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        pids = ours()
            .iter()
            .flat_map(|name| {
                let out = Command::new("ip")
                    .args(["netns", "pids", name])
                    .output()
                    .expect("ip");
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(lab.id() as i32, libc::SIGINT) };
    let status = lab.wait().expect("wait for trickles-lab");
    assert_eq!(status.code(), Some(130), "exit status {status}");
    assert!(ours().is_empty(), "namespaces left: {:?}", ours());
    std::thread::sleep(std::time::Duration::from_millis(200));
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "));
        assert!(!alive, "process {pid} survived the interrupt");
    }
}
