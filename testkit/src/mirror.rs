//! [`TestMirror`]: the packet mirror's datapath in this process, on a loopback socket, with
//! one emulated link both ways, its metrics at hand, stopped on drop; and the peer tables and
//! links the tests give it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles::sim::LinkConfig;
use trickles_mirror::auth::{AddressPattern, AuthKey, Peer, PeerTable, Reach, Side};
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::wan::WanProfile;
use trickles_mirror::{MirrorRoute, MirrorRules};
use trickles_netfn::config::Published;

/// A running in-process mirror; stops when dropped.
pub struct TestMirror {
    datapath: Option<MirrorDatapath>,
    addr: SocketAddr,
    metrics: MirrorMetrics,
}

/// The peer `name` at exactly `addr`, on `side`, reaching the peers of the other side, with no
/// key.
pub fn exact_peer(name: &str, addr: SocketAddr, side: Side) -> Peer {
    Peer {
        name: name.to_owned(),
        addresses: vec![AddressPattern::Exact(addr)],
        keys: vec![],
        side,
        reach: Reach::Peers,
    }
}

/// The peers of a mirror in front of one server: the server side `name` at exactly `server`
/// (answering anyone), and any client on 127.0.0.0/8 that tags its datagrams with `key`.
pub fn server_and_tagged_clients(name: &str, server: SocketAddr, key: &AuthKey) -> Vec<Peer> {
    vec![
        Peer {
            reach: Reach::Any,
            ..exact_peer(name, server, Side::Server)
        },
        Peer {
            addresses: vec!["127.0.0.0/8".parse().expect("a loopback pattern")],
            keys: vec![key.clone()],
            ..exact_peer("client", server, Side::Client)
        },
    ]
}

/// A link with `delay_ms` of one-way delay and random loss with probability `loss`.
pub fn lossy_link(delay_ms: u64, loss: f64) -> LinkConfig {
    LinkConfig {
        delay: trickles::time::Duration::from_millis(delay_ms),
        loss,
        ..LinkConfig::default()
    }
}

impl TestMirror {
    /// A mirror on 127.0.0.1 (one worker) serving `peers`, with `link` in both directions and
    /// its random losses seeded with `seed`. Panics when the peers are inconsistent.
    pub fn start(peers: Vec<Peer>, link: LinkConfig, seed: u64) -> TestMirror {
        let peers = PeerTable::new(peers).expect("a consistent peer table");
        let rules = MirrorRules {
            wan: WanProfile::symmetric(link),
            ..MirrorRules::new(peers)
        };
        let metrics = MirrorMetrics::new().expect("metrics");
        let datapath = MirrorDatapath::start(
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
            1,
            Some(seed),
            Arc::new(Published::new(rules)),
            &metrics,
        )
        .expect("the mirror starts on loopback");
        let addr = datapath.local_addrs()[0];
        TestMirror {
            datapath: Some(datapath),
            addr,
            metrics,
        }
    }

    /// Where it receives.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The end-host codec for sending through it.
    pub fn route(&self) -> MirrorRoute {
        MirrorRoute::new(self.addr)
    }

    /// Its metrics, as `/metrics` would show them.
    pub fn metrics_text(&self) -> String {
        trickles_netfn::render(&self.metrics.registry)
    }

    /// The sum of the metric lines starting with `line_start` (0 when there are none).
    pub fn metric_sum(&self, line_start: &str) -> u64 {
        self.metrics_text()
            .lines()
            .filter(|line| line.starts_with(line_start))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// [`metric_sum`](Self::metric_sum) once it reaches `expected` (a worker adds its counts
    /// after sending a batch, so the last datagram can arrive a moment before it is counted),
    /// or its value after 2 s.
    pub fn metric_reaching(&self, line_start: &str, expected: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let value = self.metric_sum(line_start);
            if value >= expected || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops it (joining its workers).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(datapath) = self.datapath.take() {
            datapath.stop();
        }
    }
}

impl Drop for TestMirror {
    fn drop(&mut self) {
        self.halt();
    }
}
