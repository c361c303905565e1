//! Byte-exact Trickles transfers over 127.0.0.1 and [::1], of 0 B, 1 B and 1 MiB, by the real
//! client and server processes. ([::1] must work on the test machine: if IPv6 loopback is
//! missing, these tests fail rather than skip.)

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use trickles_lab::client_process::{ClientProcess, ClientSpec};
use trickles_lab::replica_pool::FrontEnd;
use trickles_lab::test_file::sha256_file;

fn assert_byte_exact_fetch(ip: IpAddr, size: u64) {
    let (fixture, digests) = support::fixture_with(&[("file", size, size ^ 0x5eed)]);
    let pool = support::pool(&fixture, ip, 1, FrontEnd::Direct);
    let download = fixture.path().join("download");
    let spec = ClientSpec::single(
        pool.trickles_url("file"),
        download.clone(),
        fixture.path(),
        "client",
    );
    let stats = ClientProcess::start(support::binaries(), spec)
        .and_then(|client| client.finish(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("fetching {size} bytes over {ip}: {e}"));
    assert_eq!(stats.protocol, "trickles");
    assert_eq!(stats.bytes, size);
    assert_eq!(stats.sha256, digests[0], "client's digest");
    assert_eq!(sha256_file(&download).expect("hash"), digests[0]);
}

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

#[test]
fn empty_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 0);
}

#[test]
fn one_byte_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 1);
}

#[test]
fn one_mebibyte_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 1 << 20);
}

#[test]
fn empty_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 0);
}

#[test]
fn one_byte_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 1);
}

#[test]
fn one_mebibyte_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 1 << 20);
}
