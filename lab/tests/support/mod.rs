//! Shared by the real-process tests: the debug builds of `trickles-server` and
//! `trickles-client` (built once per test binary with cargo, never skipped: a build failure
//! fails the test with cargo's message), and a one-call pool on loopback.

#![allow(dead_code)] // each test file uses part of this module

use std::net::IpAddr;
use std::sync::OnceLock;

use trickles_lab::binaries::{Binaries, Profile};
use trickles_lab::fixture::ServiceFixture;
use trickles_lab::replica_pool::{FrontEnd, PoolConfig, ReplicaPool};

/// The debug binaries, built by `cargo build -p trickles-server -p trickles-client` on first
/// use (a no-op when `cargo test --workspace` has just built them).
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| match Binaries::build(Profile::Debug) {
        Ok(binaries) => binaries,
        Err(error) => panic!("cannot build the binaries under test: {error}"),
    })
}

/// The debug binaries with `trickles-balancer` and `trickles-mirror` as well (a separate
/// build, so the tests that do not need the network functions do not depend on them).
pub fn binaries_with_network_functions() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| match Binaries::build_with(Profile::Debug, true) {
        Ok(binaries) => binaries,
        Err(error) => panic!("cannot build the binaries under test: {error}"),
    })
}

/// A fixture (key, `www/`) serving the given files: `(name, size, seed)`; returns the digests.
pub fn fixture_with(files: &[(&str, u64, u64)]) -> (ServiceFixture, Vec<String>) {
    let fixture = ServiceFixture::new(binaries()).expect("fixture");
    let digests = files
        .iter()
        .map(|&(name, size, seed)| fixture.add_file(name, size, seed).expect("test file"))
        .collect();
    (fixture, digests)
}

/// A pool of `replicas` behind `front_end` on `ip`, serving `fixture`.
pub fn pool(
    fixture: &ServiceFixture,
    ip: IpAddr,
    replicas: usize,
    front_end: FrontEnd,
) -> ReplicaPool {
    pool_with(binaries(), fixture, ip, replicas, front_end)
}

/// [`pool`] with the given binaries.
pub fn pool_with(
    binaries: &Binaries,
    fixture: &ServiceFixture,
    ip: IpAddr,
    replicas: usize,
    front_end: FrontEnd,
) -> ReplicaPool {
    ReplicaPool::start(
        binaries,
        PoolConfig {
            ip,
            replicas,
            first_port: None,
            root: fixture.root().to_path_buf(),
            key_file: fixture.key_file().to_path_buf(),
            http_baseline: false,
            workers: Some(1),
            log_dir: fixture.path().to_path_buf(),
            front_end,
        },
    )
    .expect("replica pool")
}
