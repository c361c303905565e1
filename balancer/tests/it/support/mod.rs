//! Test fixtures: a pool of replicas (the testkit's in-process servers behind the balancer,
//! which handle its encapsulation with `trickles-server`'s own relay code), a balancer started
//! in-process, and a client fetch that checks the body byte for byte.

pub mod xdp_fixtures;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use trickles::app::MemoryApplication;
use trickles_balancer::config::BalancerConfig;
use trickles_balancer::service::RunningBalancer;
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl, TransferStats};
use trickles_netfn::ConfigSource;
use trickles_testkit::{memory_app, Relay, TestServer};

/// The served object's name.
pub const PATH: &str = "/object.bin";

/// A deterministic body of `len` bytes.
pub fn body(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1])
        .collect()
}

/// Hex SHA-256, as the client reports it.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The application every replica serves: [`PATH`] → `body`.
pub fn application(body: Vec<u8>) -> MemoryApplication {
    memory_app([(PATH, body)])
}

/// `count` replicas of `app` on the VIP's loopback address, trusting encapsulation from the
/// VIP only (every replica of a pool uses the test key), and their addresses.
pub fn replicas(
    app: &MemoryApplication,
    vip: SocketAddr,
    count: usize,
) -> (Vec<TestServer>, Vec<SocketAddr>) {
    let replicas: Vec<TestServer> = (0..count)
        .map(|_| replica_on(app, vip, SocketAddr::new(vip.ip(), 0)))
        .collect();
    let addrs = replicas.iter().map(TestServer::addr).collect();
    (replicas, addrs)
}

/// A replica on a given address (a restarted replica takes its old one).
pub fn replica_on(app: &MemoryApplication, vip: SocketAddr, local: SocketAddr) -> TestServer {
    TestServer::builder(app.clone())
        .bind(local)
        .relay(Relay::Balancer(vec![vip]))
        .start()
}

/// The YAML of a balancer on `vip` in front of `replicas` (named r0, r1, ...).
pub fn balancer_yaml(vip: SocketAddr, replicas: &[SocketAddr], extra: &str) -> String {
    let mut text = format!(
        "listen: [\"{vip}\"]\nhealth:\n  interval_ms: 200\n  timeout_ms: 100\n  rise: 1\n  fall: 2\n{extra}backends:\n"
    );
    for (i, addr) in replicas.iter().enumerate() {
        text.push_str(&format!("  - name: r{i}\n    address: \"{addr}\"\n"));
    }
    text
}

/// Parse a configuration text (panics on error: tests write valid ones).
pub fn config(text: &str) -> BalancerConfig {
    BalancerConfig::from_source(&ConfigSource::from_text("test.yaml", text)).expect("config")
}

/// A tokio runtime for the balancer's control plane.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Start a balancer in `runtime`.
pub fn start_balancer(
    runtime: &tokio::runtime::Runtime,
    config: BalancerConfig,
) -> RunningBalancer {
    runtime
        .block_on(RunningBalancer::start(config))
        .expect("balancer starts")
}

/// Waits (at most 10 s: the first probes can be late on a loaded machine) until `count`
/// backends are in the table; how many there are then.
pub fn active_within_10_s(balancer: &RunningBalancer, count: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let active = balancer.table().active().len();
        if active >= count || Instant::now() > deadline {
            return active;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fetch [`PATH`] through `vip` with the real client; returns its statistics.
pub fn fetch_through(vip: SocketAddr) -> TransferStats {
    let url = TargetUrl::parse(&format!("trickles://{vip}{PATH}")).expect("url");
    let options = FetchOptions {
        idle_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    };
    fetch(&url, &options, DiscardSink).expect("transfer completes")
}

/// `(max − min) / mean` of the counts, in percent.
pub fn spread_percent(counts: &[u64]) -> f64 {
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let min = counts.iter().copied().min().unwrap_or(0) as f64;
    let mean = counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64;
    if mean == 0.0 {
        0.0
    } else {
        (max - min) / mean * 100.0
    }
}
