//! The QUIC baseline of `bench transfer` as real processes (`trickles-lab quic-serve` and
//! `quic-get`) on 127.0.0.1 and [::1]: the body arrives byte-exact with the right digest, and a
//! request for another file is refused, failing the client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use trickles_lab::quic::process::{QuicClient, QuicServer};
use trickles_lab::test_file::{sha256_file, write_seeded};
use trickles_lab::topology::Topology;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn lab_program() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trickles-lab"))
}

fn assert_byte_exact_quic_fetch(ip: IpAddr, size: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    let digest = write_seeded(&file, size, size ^ 0x9111).expect("test file");
    let topology = Topology::loopback(ip).expect("loopback");
    let server = QuicServer::start(
        lab_program(),
        &topology.host("server"),
        ip,
        &file,
        dir.path(),
    )
    .expect("quic-serve");
    assert_eq!(server.addr().ip(), ip);
    assert!(
        server.offload().starts_with("GSO up to "),
        "{}",
        server.offload()
    );
    let download = dir.path().join("download");
    let stats = QuicClient::start(
        lab_program(),
        &topology.host("client"),
        &server,
        server.file_name(),
        Some(&download),
        dir.path(),
        "get",
    )
    .and_then(|client| client.finish(Duration::from_secs(60)))
    .unwrap_or_else(|e| panic!("fetching {size} bytes over QUIC on {ip}: {e}"));
    assert_eq!((stats.protocol.as_str(), stats.bytes), ("quic", size));
    assert_eq!(stats.sha256, digest, "the client's digest");
    assert_eq!(sha256_file(&download).expect("hash"), digest);
    server.stop().expect("stop");
}

#[test]
fn a_file_is_byte_exact_over_quic_on_ipv4() {
    assert_byte_exact_quic_fetch(V4, (1 << 20) + 7);
}

#[test]
fn a_file_is_byte_exact_over_quic_on_ipv6() {
    assert_byte_exact_quic_fetch(V6, (1 << 20) + 7);
}

#[test]
fn an_empty_file_is_byte_exact_over_quic() {
    assert_byte_exact_quic_fetch(V4, 0);
}

#[test]
fn a_request_for_another_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = dir.path().join("served");
    write_seeded(&served, 1000, 1).expect("test file");
    let topology = Topology::loopback(V4).expect("loopback");
    let host = topology.host("server");
    let server = QuicServer::start(lab_program(), &host, V4, &served, dir.path()).expect("serve");
    let error = QuicClient::start(
        lab_program(),
        &host,
        &server,
        "other",
        None,
        dir.path(),
        "x",
    )
    .and_then(|client| client.finish(Duration::from_secs(60)))
    .expect_err("an unknown name must fail");
    assert!(error.to_string().contains("refused"), "{error}");
}
