//! The network of the direct-return test (`tests/dsr_netns.rs`): namespaces for a client, a
//! router, a balancer holding the VIP and replicas holding it on `lo`; the processes started in
//! them; the download through the VIP with a count of the reply sources.
//!
//! Addresses: subnet 1 the client, 2 the balancer, 3.. the replicas, each a /24 of
//! 198.18.0.0/15 and a /64 of 2001:2::/48 with the router at `.1`/`::1` and the host at
//! `.2`/`::2`; the VIPs 198.19.0.100/32 and 2001:2:ff::100/128.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use trickles_lab::binaries::Binaries;
use trickles_lab::children::ChildProcess;
use trickles_lab::client_stats;
use trickles_lab::fixture::ServiceFixture;
use trickles_lab::http_probe;
use trickles_lab::test_file::sha256_file;

use super::udp_sources::{Tally, UdpSources};
use super::{veth, Namespace};

/// The served file.
pub const SIZE: u64 = 1 << 20;
/// The VIP's UDP port, which the replicas also listen on (at their own addresses).
pub const PORT: u16 = 4433;
const VIP4: &str = "198.19.0.100";
const VIP6: &str = "2001:2:ff::100";
/// How long one download may take (debug builds, a shared machine).
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(60);
/// How long a process may take to become ready.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The namespaces of one test, its processes and its files; dropped in this order.
pub struct DsrNetwork {
    processes: Vec<ChildProcess>,
    binaries: Binaries,
    client: Namespace,
    /// Only held: deleted with the network.
    _router: Namespace,
    balancer: Namespace,
    replicas: Vec<Namespace>,
    fixture: ServiceFixture,
    digest: String,
}

/// An address family of the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// `host` on subnet `subnet` (1: client, 2: balancer, 3..: replicas), with the prefix.
    fn host(self, subnet: u8, host: u8) -> String {
        match self {
            Family::V4 => format!("198.18.{subnet}.{host}/24"),
            Family::V6 => format!("2001:2:{subnet}::{host}/64"),
        }
    }

    /// `host` on `subnet`, as an address.
    pub fn ip(self, subnet: u8, host: u8) -> IpAddr {
        let with_prefix = self.host(subnet, host);
        let ip = with_prefix.split('/').next().unwrap_or_default();
        ip.parse().expect("test address")
    }

    pub fn vip(self) -> IpAddr {
        match self {
            Family::V4 => VIP4.parse().expect("VIP"),
            Family::V6 => VIP6.parse().expect("VIP"),
        }
    }

    fn vip_with_prefix(self) -> String {
        match self {
            Family::V4 => format!("{VIP4}/32"),
            Family::V6 => format!("{VIP6}/128"),
        }
    }

    /// `-4` or `-6` for `ip`.
    fn ip_flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// The balancer's metrics port for this family.
    pub fn balancer_metrics(self) -> SocketAddr {
        let port = match self {
            Family::V4 => 9300,
            Family::V6 => 9306,
        };
        SocketAddr::new(Family::V4.ip(2, 2), port)
    }
}

/// A replica's metrics endpoint.
fn replica_metrics(index: usize) -> SocketAddr {
    SocketAddr::new(Family::V4.ip(replica_subnet(index), 2), 9100)
}

pub fn replica_subnet(index: usize) -> u8 {
    3 + u8::try_from(index).expect("few replicas")
}

/// Sets the sysctls every namespace of the test shares; before any veth exists, so the
/// `default` values apply to the interfaces created next.
fn common_sysctls(namespace: &Namespace) {
    for scope in ["all", "default"] {
        namespace.sysctl(&format!("net.ipv4.conf.{scope}.rp_filter"), "0");
        namespace.sysctl(&format!("net.ipv6.conf.{scope}.accept_dad"), "0");
    }
}

/// Adds `address` (with `nodad` for IPv6) to `interface` of `namespace`.
fn add_address(namespace: &Namespace, family: Family, address: &str, interface: &str) {
    let mut args = vec![family.ip_flag(), "addr", "add", address, "dev", interface];
    if family == Family::V6 {
        args.push("nodad");
    }
    namespace.ip(&args);
}

impl DsrNetwork {
    /// The namespaces, links, addresses and routes of the drawing above, and the served file.
    /// `binaries` must include the balancer.
    pub fn build(binaries: &Binaries, tag: &str, replicas: usize) -> DsrNetwork {
        let fixture = ServiceFixture::new(binaries).expect("fixture");
        let digest = fixture.add_file("file", SIZE, 29).expect("test file");
        let client = Namespace::create("c", tag);
        let router = Namespace::create("r", tag);
        let balancer = Namespace::create("b", tag);
        let replicas: Vec<Namespace> = (0..replicas)
            .map(|i| Namespace::create(&format!("s{i}"), tag))
            .collect();
        for namespace in [&client, &router, &balancer].into_iter().chain(&replicas) {
            common_sysctls(namespace);
        }
        router.sysctl("net.ipv4.ip_forward", "1");
        router.sysctl("net.ipv6.conf.all.forwarding", "1");
        for replica in &replicas {
            // The VIP is on lo: answer no ARP for it, never announce it as a source on the
            // link (not strictly needed on point-to-point veths, but what a LAN needs).
            replica.sysctl("net.ipv4.conf.all.arp_ignore", "1");
            replica.sysctl("net.ipv4.conf.all.arp_announce", "2");
            // The balancer forwards from the VIP, which the replica holds too: without
            // accept_local the kernel drops those IPv4 datagrams as martians.
            replica.sysctl("net.ipv4.conf.all.accept_local", "1");
        }

        let mut links: Vec<(&Namespace, String, u8)> = vec![(&client, "c0".into(), 1)];
        links.push((&balancer, "b0".into(), 2));
        for (i, replica) in replicas.iter().enumerate() {
            links.push((replica, "s0".into(), replica_subnet(i)));
        }
        for (namespace, interface, subnet) in &links {
            let router_side = format!("r{subnet}");
            veth(namespace, interface, &router, &router_side);
            for family in [Family::V4, Family::V6] {
                add_address(&router, family, &family.host(*subnet, 1), &router_side);
                add_address(namespace, family, &family.host(*subnet, 2), interface);
                let gateway = family.ip(*subnet, 1).to_string();
                namespace.ip(&[family.ip_flag(), "route", "add", "default", "via", &gateway]);
            }
        }
        for family in [Family::V4, Family::V6] {
            for holder in std::iter::once(&balancer).chain(&replicas) {
                add_address(holder, family, &family.vip_with_prefix(), "lo");
            }
            let balancer_ip = family.ip(2, 2).to_string();
            router.ip(&[
                family.ip_flag(),
                "route",
                "add",
                &family.vip_with_prefix(),
                "via",
                &balancer_ip,
            ]);
        }
        DsrNetwork {
            processes: Vec::new(),
            binaries: binaries.clone(),
            client,
            _router: router,
            balancer,
            replicas,
            fixture,
            digest,
        }
    }

    /// Starts every replica (dual-stack, trusting both balancers' VIPs; `--dsr-vip` for both
    /// families when `dsr_vip`) and waits until each answers `/healthz`.
    pub fn start_replicas(&mut self, dsr_vip: bool) {
        let binaries = self.binaries.clone();
        for i in 0..self.replicas.len() {
            let subnet = replica_subnet(i);
            let mut command = self.replicas[i].command(&binaries.server);
            command
                .arg("--root")
                .arg(self.fixture.root())
                .arg("--key-file")
                .arg(self.fixture.key_file())
                .arg("--metrics")
                .arg(replica_metrics(i).to_string())
                .args(["--workers", "1"]);
            for family in [Family::V4, Family::V6] {
                let vip = SocketAddr::new(family.vip(), PORT).to_string();
                let listen = SocketAddr::new(family.ip(subnet, 2), PORT).to_string();
                command.args(["--listen", &listen, "--balancer", &vip]);
                if dsr_vip {
                    command.args(["--dsr-vip", &vip]);
                }
            }
            let log = self.fixture.path().join(format!("replica-{i}.log"));
            let child = ChildProcess::spawn(format!("replica s{i}"), command, &log)
                .expect("start a replica");
            self.processes.push(child);
            let metrics = replica_metrics(i);
            self.wait_until(Within::Replica(i), &format!("replica s{i} healthy"), || {
                matches!(
                    http_probe::get(metrics, "/healthz", Duration::from_millis(500)),
                    Some((200, _))
                )
            });
        }
    }

    /// Starts the balancer of `family` (VIP of that family, direct return, round robin over
    /// the replicas' addresses of that family) and waits until every replica is in its table.
    pub fn start_balancer(&mut self, family: Family) {
        let binaries = self.binaries.clone();
        let mut yaml = format!(
            "listen: [\"{}\"]\nmetrics: \"{}\"\nworkers: 1\nmode: direct_return\n\
             policy: round_robin\nwatch_config: false\nhealth:\n  probe: udp\n  \
             interval_ms: 100\n  timeout_ms: 50\n  rise: 1\n  fall: 2\nbackends:\n",
            SocketAddr::new(family.vip(), PORT),
            family.balancer_metrics(),
        );
        for i in 0..self.replicas.len() {
            let address = SocketAddr::new(family.ip(replica_subnet(i), 2), PORT);
            yaml.push_str(&format!("  - name: r{i}\n    address: \"{address}\"\n"));
        }
        let config = self
            .fixture
            .path()
            .join(format!("balancer-{family:?}.yaml"));
        std::fs::write(&config, yaml).expect("balancer configuration");
        let mut command = self
            .balancer
            .command(binaries.balancer().expect("balancer"));
        command.arg("--config").arg(&config);
        let log = self.fixture.path().join(format!("balancer-{family:?}.log"));
        let child = ChildProcess::spawn(format!("trickles-balancer ({family:?})"), command, &log)
            .expect("start the balancer");
        self.processes.push(child);
        let (metrics, all) = (family.balancer_metrics(), self.replicas.len());
        let everyone = format!("{all} of {all} backends");
        self.wait_until(
            Within::Balancer,
            "every replica in the balancer's table",
            || {
                http_probe::get(metrics, "/healthz", Duration::from_millis(500))
                    .is_some_and(|(_, body)| body.contains(&everyone))
            },
        );
    }

    /// Polls `ready` inside namespace `which` until it holds (at most [`START_LIMIT`]); fails
    /// with the log of any process that exited meanwhile.
    fn wait_until(&mut self, which: Within, what: &str, ready: impl Fn() -> bool + Sync) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            for child in &mut self.processes {
                if let Some(status) = child.try_wait().expect("wait") {
                    panic!("waiting for {what}: {}", child.failure(Some(status)));
                }
            }
            if self.namespace(which).run(&ready) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn namespace(&self, which: Within) -> &Namespace {
        match which {
            Within::Balancer => &self.balancer,
            Within::Replica(i) => &self.replicas[i],
        }
    }

    /// Downloads the file through the VIP of `family` with the `trickles-client` executable
    /// in the client namespace, counting the UDP datagrams reaching the client's interface.
    /// Asserts the download is byte-exact; returns the count.
    pub fn download(&mut self, family: Family) -> Tally {
        let binaries = self.binaries.clone();
        let url = format!("trickles://{}/file", SocketAddr::new(family.vip(), PORT));
        let dir = self.fixture.path().to_path_buf();
        let output = dir.join(format!("download-{family:?}"));
        let stats = dir.join(format!("client-{family:?}.stats.json"));
        let mut command = self.client.command(&binaries.client);
        command
            .arg("get")
            .arg(&url)
            .args(["--quiet", "--timeout", "20", "--stats-json"])
            .arg(&stats)
            .arg("-o")
            .arg(&output);
        let sniffer = UdpSources::start(&self.client, "c0", DOWNLOAD_LIMIT * 2);
        let log = dir.join(format!("client-{family:?}.log"));
        let mut child = ChildProcess::spawn("trickles-client", command, &log).expect("client");
        let status = child.wait_for(DOWNLOAD_LIMIT).expect("client finishes");
        let tally = sniffer.finish();
        assert!(
            status.success(),
            "{url}: {}\n{}",
            child.failure(Some(status)),
            self.logs()
        );
        let stats = client_stats::read_transfer(&stats).expect("client statistics");
        eprintln!(
            "{family:?}: {} bytes in {:.2} s, {} retransmissions; datagrams by source: {:?}",
            stats.bytes, stats.seconds, stats.retransmissions, tally.by_source
        );
        assert_eq!(stats.sha256, self.digest, "client's digest of {url}");
        assert_eq!(sha256_file(&output).expect("hash"), self.digest, "{url}");
        tally
    }

    /// How many replicas there are.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// `/metrics` of the balancer of `family`.
    pub fn balancer_metrics(&self, family: Family) -> String {
        let addr = family.balancer_metrics();
        self.balancer
            .run(|| http_probe::get(addr, "/metrics", Duration::from_secs(2)))
            .map(|(_, body)| body)
            .expect("balancer /metrics")
    }

    /// `/metrics` of replica `index`.
    pub fn replica_metrics(&self, index: usize) -> String {
        let addr = replica_metrics(index);
        self.replicas[index]
            .run(|| http_probe::get(addr, "/metrics", Duration::from_secs(2)))
            .map(|(_, body)| body)
            .expect("replica /metrics")
    }

    /// The last lines of every process log, for failure messages.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|child| {
                format!(
                    "--- {} ---\n{}",
                    child.name(),
                    trickles_lab::children::log_tail(child.log(), 10)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Which namespace [`DsrNetwork::wait_until`] polls in.
#[derive(Clone, Copy, Debug)]
pub enum Within {
    Balancer,
    Replica(usize),
}
