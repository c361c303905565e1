//! `trickles-lab exp memory` at a reduced size (needs root, as CI has): the server's memory is
//! flat in the number of Trickles clients and grows with the number of TCP clients, every
//! client really had a connection, and the CSV and figures are written. Also: without root, the
//! lab refuses with a clear message and a non-zero exit.

mod support;

use std::os::unix::process::CommandExt;
use std::process::Command;

use trickles_lab::experiments::context::Protocol;
use trickles_lab::experiments::memory::{run, MemoryArgs};

#[test]
fn trickles_memory_is_flat_while_tcp_memory_grows_with_clients() {
    support::binaries();
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
    for file in [&outcome.csv, &outcome.plot.png, &outcome.plot.svg] {
        assert!(
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0),
            "{} missing",
            file.display()
        );
    }
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
