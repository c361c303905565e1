//! Direct server return from the VIP, end to end in network namespaces (needs root; fails,
//! saying so, without it):
//!
//! ```text
//!   client ── router ── balancer (VIP on lo; trickles-balancer, mode: direct_return)
//!               ├──── replica s0 (VIP on lo; trickles-server --dsr-vip VIP:4433)
//!               └──── replica s1 (VIP on lo; trickles-server --dsr-vip VIP:4433)
//! ```
//!
//! The router sends the VIP to the balancer; the balancer forwards each request (round robin,
//! so both replicas serve the connection) to a replica's own address with the DIRECT_RETURN
//! flag; the replica answers the client straight through the router. Claims, for IPv4 and
//! IPv6 (one balancer per family, the replicas dual-stack):
//! - the `trickles-client` executable downloads a 1 MiB file through the VIP byte-exact;
//! - every UDP datagram reaching the client's interface (counted with a packet socket) came
//!   from VIP:4433, and together they carry at least the file's bytes;
//! - the balancer relayed nothing towards the client (`to_client` bytes 0): the data bypassed
//!   it; the replicas counted every direct reply as sent from the VIP.
//!
//! The control: the same network with replicas started without `--dsr-vip` answers from the
//! replicas' own addresses, and the packet count shows exactly that; so the first test fails
//! if a replica answers from anywhere but the VIP.
//!
//! Addresses: 198.18.0.0/15 and 2001:2::/48 (benchmarking ranges). Every namespace is deleted
//! and every process killed when the test ends, also on panic.

mod netns;
mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use netns::udp_sources::{Tally, UdpSources};
use netns::{veth, Namespace};
use trickles_lab::children::ChildProcess;
use trickles_lab::client_stats;
use trickles_lab::fixture::ServiceFixture;
use trickles_lab::http_probe;
use trickles_lab::test_file::sha256_file;

/// The served file.
const SIZE: u64 = 1 << 20;
/// The VIP's UDP port, which the replicas also listen on (at their own addresses).
const PORT: u16 = 4433;
const VIP4: &str = "198.19.0.100";
const VIP6: &str = "2001:2:ff::100";
/// How long one download may take (debug builds, a shared machine).
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(60);
/// How long a process may take to become ready.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The namespaces of one test, its processes and its files; dropped in this order.
struct DsrNetwork {
    processes: Vec<ChildProcess>,
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
enum Family {
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
    fn ip(self, subnet: u8, host: u8) -> IpAddr {
        let with_prefix = self.host(subnet, host);
        let ip = with_prefix.split('/').next().unwrap_or_default();
        ip.parse().expect("test address")
    }

    fn vip(self) -> IpAddr {
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
    fn balancer_metrics(self) -> SocketAddr {
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

fn replica_subnet(index: usize) -> u8 {
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
    fn build(tag: &str, replicas: usize) -> DsrNetwork {
        let binaries = support::binaries_with_balancer();
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
    fn start_replicas(&mut self, dsr_vip: bool) {
        let binaries = support::binaries_with_balancer();
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
    fn start_balancer(&mut self, family: Family) {
        let binaries = support::binaries_with_balancer();
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
    fn download(&mut self, family: Family) -> Tally {
        let binaries = support::binaries_with_balancer();
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

    /// `/metrics` of the balancer of `family`.
    fn balancer_metrics(&self, family: Family) -> String {
        let addr = family.balancer_metrics();
        self.balancer
            .run(|| http_probe::get(addr, "/metrics", Duration::from_secs(2)))
            .map(|(_, body)| body)
            .expect("balancer /metrics")
    }

    /// `/metrics` of replica `index`.
    fn replica_metrics(&self, index: usize) -> String {
        let addr = replica_metrics(index);
        self.replicas[index]
            .run(|| http_probe::get(addr, "/metrics", Duration::from_secs(2)))
            .map(|(_, body)| body)
            .expect("replica /metrics")
    }

    /// The last lines of every process log, for failure messages.
    fn logs(&self) -> String {
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
enum Within {
    Balancer,
    Replica(usize),
}

/// The value of the sample `name{labels...}` in a Prometheus text (labels in any order).
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (label_text, value) = rest.split_once('}')?;
        let all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        all.then(|| value.trim().parse().ok()).flatten()
    })
}

/// Asserts the balancer of `family` forwarded requests to every replica and relayed nothing
/// back towards the client.
fn assert_data_bypassed_the_balancer(network: &DsrNetwork, family: Family) {
    let metrics = network.balancer_metrics(family);
    for i in 0..network.replicas.len() {
        let backend = format!("r{i}");
        let bytes = |direction| {
            sample(
                &metrics,
                "trickles_balancer_bytes_total",
                &[("backend", &backend), ("direction", direction)],
            )
            .unwrap_or_else(|| panic!("{family:?} balancer: no {direction} bytes of {backend}"))
        };
        assert!(
            bytes("to_backend") > 0.0,
            "{family:?}: no request reached {backend}"
        );
        assert_eq!(
            bytes("to_client"),
            0.0,
            "{family:?}: the balancer relayed replies"
        );
    }
}

/// The replicas' `trickles_server_direct_replies_total{source}`, summed.
fn direct_replies(network: &DsrNetwork, source: &str) -> Vec<f64> {
    (0..network.replicas.len())
        .map(|i| {
            sample(
                &network.replica_metrics(i),
                "trickles_server_direct_replies_total",
                &[("source", source)],
            )
            .expect("direct_replies_total")
        })
        .collect()
}

#[test]
fn replicas_answer_from_the_vip_and_the_data_bypasses_the_balancer() {
    netns::require_root("replicas_answer_from_the_vip_and_the_data_bypasses_the_balancer");
    let mut network = DsrNetwork::build("vip", 2);
    network.start_replicas(true);
    let mut seen_at_client = 0;
    for family in [Family::V4, Family::V6] {
        network.start_balancer(family);
        let tally = network.download(family);
        let vip = SocketAddr::new(family.vip(), PORT);
        let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
        assert_eq!(
            sources,
            vec![vip],
            "{family:?}: sources of the datagrams at the client"
        );
        assert_eq!(tally.kernel_drops, 0, "the packet count missed packets");
        let from_vip = tally.by_source[&vip];
        assert!(
            from_vip.payload_bytes >= SIZE,
            "{family:?}: only {} bytes came from the VIP",
            from_vip.payload_bytes
        );
        seen_at_client += from_vip.datagrams;
        assert_data_bypassed_the_balancer(&network, family);
    }
    let from_vip = direct_replies(&network, "vip");
    eprintln!("direct replies from the VIP per replica: {from_vip:?}");
    assert!(
        from_vip.iter().all(|n| *n > 0.0),
        "a replica served nothing"
    );
    assert!(from_vip.iter().sum::<f64>() >= seen_at_client as f64);
    assert!(direct_replies(&network, "own_address")
        .iter()
        .all(|n| *n == 0.0));
}

#[test]
fn without_dsr_vip_replies_come_from_the_replicas_own_addresses() {
    netns::require_root("without_dsr_vip_replies_come_from_the_replicas_own_addresses");
    let mut network = DsrNetwork::build("own", 2);
    network.start_replicas(false);
    network.start_balancer(Family::V4);
    let tally = network.download(Family::V4);
    let own: Vec<SocketAddr> = (0..network.replicas.len())
        .map(|i| SocketAddr::new(Family::V4.ip(replica_subnet(i), 2), PORT))
        .collect();
    let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
    assert_eq!(sources, own, "sources of the datagrams at the client");
    assert_data_bypassed_the_balancer(&network, Family::V4);
    assert!(direct_replies(&network, "own_address")
        .iter()
        .all(|n| *n > 0.0));
    assert!(direct_replies(&network, "vip").iter().all(|n| *n == 0.0));
}
