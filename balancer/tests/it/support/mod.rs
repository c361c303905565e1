//! Test fixtures: replicas made of the core's `ServerEndpoint` on real loopback sockets, which
//! handle the balancer's encapsulation with `trickles-server`'s own `udp::balancer_relay` (trust
//! it only from the balancer, treat the inner peer as the client, answer encapsulated or
//! directly), a balancer started in-process, and a client fetch that checks the body byte for
//! byte.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use trickles::app::{AppError, Application, MemoryApplication, Opened};
use trickles::crypto::{Key, KeyRing};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::Instant;
use trickles::Transmit;
use trickles_balancer::config::BalancerConfig;
use trickles_balancer::service::RunningBalancer;
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl, TransferStats};
use trickles_netfn::ConfigSource;
use trickles_server::udp::balancer_relay;

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

struct SharedApp(Arc<MemoryApplication>);

impl Application for SharedApp {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        self.0.open(request, client)
    }
    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        self.0.read_at(ucont, offset, buf)
    }
}

/// The application every replica serves: [`PATH`] → `body`.
pub fn application(body: Vec<u8>) -> Arc<MemoryApplication> {
    let mut app = MemoryApplication::new();
    app.insert(PATH.as_bytes().to_vec(), body);
    Arc::new(app)
}

/// A replica on a real socket, stopped (socket closed) by [`TestReplica::kill`] or drop.
pub struct TestReplica {
    pub addr: SocketAddr,
    /// Datagrams it handled.
    pub handled: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestReplica {
    /// Start a replica on the VIP's loopback address, trusting encapsulation from `balancer`
    /// (the VIP) only. Every replica of a pool uses the same key.
    pub fn start(app: Arc<MemoryApplication>, balancer: SocketAddr) -> TestReplica {
        Self::start_on(app, balancer, SocketAddr::new(balancer.ip(), 0))
    }

    /// [`TestReplica::start`] on a given address (a restarted replica takes its old one).
    pub fn start_on(
        app: Arc<MemoryApplication>,
        balancer: SocketAddr,
        local: SocketAddr,
    ) -> TestReplica {
        let socket = UdpSocket::bind(local).expect("bind replica");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let handled = Arc::new(AtomicU64::new(0));
        let (stop_flag, counter) = (stop.clone(), handled.clone());
        let thread = std::thread::spawn(move || {
            let keys = KeyRing::new(Key::from_secret(1, &[7u8; 32]));
            let mut endpoint =
                ServerEndpoint::new(ServerConfig::default(), keys, SharedApp(app), rand_seed());
            let mut buf = vec![0u8; 65_536];
            let mut out: Vec<Transmit> = Vec::new();
            while !stop_flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                // Exactly what trickles-server's workers do with a relayed datagram.
                let Ok(ingress) = balancer_relay::unwrap(&[balancer], from, &buf[..n]) else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let now = Instant(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as u64),
                );
                let _ = endpoint.handle_datagram(now, ingress.client, ingress.payload, &mut out);
                ingress.route.apply(&mut out);
                for transmit in out.drain(..) {
                    let _ = socket.send_to(&transmit.payload, transmit.destination);
                }
            }
        });
        TestReplica {
            addr,
            handled,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop it and close its socket (the port then answers "unreachable").
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestReplica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rand_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// A free UDP port on 127.0.0.1 for the VIP (bound, read, released).
pub fn free_udp_addr() -> SocketAddr {
    free_udp_addr_on("127.0.0.1:0").expect("IPv4 loopback")
}

/// A free UDP port on `local` (`None` when the address family is not available).
pub fn free_udp_addr_on(local: &str) -> Option<SocketAddr> {
    UdpSocket::bind(local).ok()?.local_addr().ok()
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
