//! [`MirroredTestbed`]: the testbed of the wide-area experiments (friendliness, wan): every
//! packet between the clients and the server crosses `trickles-mirror`, which emulates the
//! path's delay and loss (this kernel has no netem), and the router's token bucket toward the
//! clients is the one bottleneck, for Trickles and TCP alike.
//!
//! ```text
//!  clients (host 1)                         mirror (host 3)                  server (host 2)
//!  trickles-client --via M ─┐            ┌─ trickles-mirror M:7000 ─┐     ┌─ trickles-server
//!  TCP ─▶ tmir0 ─▶ tunnel ──┤── router ──┤  delay, loss both ways   ├─────┤  :4433 (--balancer M)
//!                           │  TBF ▲     └──────────────────────────┘     │  tunnel ─▶ tmir0 :8080
//!                           └──────┘ (toward the clients: the bottleneck)
//! ```
//!
//! Trickles: the client wraps every datagram for the server and sends it to the mirror; the
//! server trusts the mirror as a relay and answers through it (docs/NETWORK-FUNCTIONS.md
//! §4.1). TCP (the HTTP baseline, same client program): between the two hosts' tunnel
//! addresses, whose packets `trickles-mirror-tunnel` endpoints carry through the mirror (§4.7);
//! the device MTU leaves room for the encapsulation, so TCP's MSS follows from it.
//!
//! The mirror's path is changed by restarting it ([`MirroredTestbed::set_path`]); the
//! tunnels, whose peer is the mirror's fixed address, and the server stay up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::context::{Context, Protocol, EXPERIMENT_MSS, HTTP_PORT, TRICKLES_PORT};
use super::path_counters::{metric_sum, qdisc_drops, udp_receive_overflows, PathCounters};
use super::tcp_congestion;
use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::service::client::{ClientProcess, ClientSpec};
use crate::service::mirror::{self, EmulatedWan, MirrorSpec, MIRROR_PORT};
use crate::service::server::{self, ServerSpec};
use crate::service::tunnel::{TunnelSpec, TUNNEL_OVERHEAD};
use crate::service::Service;
use crate::topology::{Family, NamespaceHost, Topology};

/// The clients' host.
pub const CLIENTS: &str = "clients";
/// The server's host.
pub const SERVER: &str = "server";
/// The mirror's host.
pub const MIRROR: &str = "mirror";
/// Every tunnel endpoint's UDP port (on its host's address).
pub const TUNNEL_PORT: u16 = 7100;
/// The TUN device's name in both hosts.
pub const TUNNEL_DEVICE: &str = "tmir0";
/// The veth links' MTU.
const LINK_MTU: u16 = 1500;
/// Trickles' stream bytes per packet here: the testbeds' [`EXPERIMENT_MSS`] less the mirror's
/// header (24 bytes with an IPv6 peer), so a RESPONSE through the mirror still fits the MTU.
/// TCP's segments fill the tunnel's MTU likewise: both protocols' packets on the bottleneck are
/// about 1,460 bytes.
pub const MIRRORED_MSS: usize = EXPERIMENT_MSS - 24;
/// TCP connections [`MirroredTestbed::probe_rtt`] times.
const RTT_PROBES: usize = 5;

/// What the mirror does to every datagram, in each direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmulatedPath {
    /// One-way delay, milliseconds (the round trip adds both directions).
    pub one_way_delay_ms: f64,
    /// Independent loss probability.
    pub loss: f64,
}

/// How the testbed is set up.
#[derive(Clone, Debug)]
pub struct MirroredSetup {
    /// `net.ipv4.tcp_congestion_control` in every namespace of the testbed.
    pub tcp_cc: String,
    /// The first emulated path.
    pub path: EmulatedPath,
    /// The bottleneck's rate, bits per second.
    pub rate_bits: u64,
    /// The bottleneck's queue, bytes.
    pub queue_bytes: u64,
    /// Seed of the mirror's draws (loss).
    pub seed: u64,
}

/// The running testbed; dropping it stops everything and deletes the namespaces.
pub struct MirroredTestbed {
    // Processes before the namespaces they run in (fields drop in order).
    mirror: Option<Service<MirrorSpec>>,
    server: Service<ServerSpec>,
    tunnels: Vec<Service<TunnelSpec>>,
    topology: Topology,
    binaries: Binaries,
    config_dir: PathBuf,
    family: Family,
    seed: u64,
    starts: usize,
}

impl MirroredTestbed {
    /// Builds the namespaces, then starts the mirror, the tunnel endpoints and the server, and
    /// shapes the bottleneck.
    pub fn build(context: &Context, setup: &MirroredSetup) -> Result<Self> {
        let family = context.family;
        let topology = context.topology("friendliness/wan", &[CLIENTS, SERVER, MIRROR])?;
        let testbed = topology.testbed()?;
        tcp_congestion::use_everywhere(testbed, &setup.tcp_cc)?;
        for role in [CLIENTS, SERVER] {
            enlarge_tcp_buffers(testbed.host(role))?;
        }
        let mirror_addr = SocketAddr::new(testbed.host(MIRROR).address(family), MIRROR_PORT);
        let dir = context.fixture.path();
        let mut tunnels = Vec::with_capacity(2);
        for (role, other) in [(CLIENTS, SERVER), (SERVER, CLIENTS)] {
            let host = topology.host(role);
            let spec = TunnelSpec {
                via: mirror_addr,
                listen: SocketAddr::new(host.address(), TUNNEL_PORT),
                remote: SocketAddr::new(topology.host(other).address(), TUNNEL_PORT),
                device: TUNNEL_DEVICE.to_owned(),
                netns: testbed.host(role).namespace().name().to_owned(),
                address: tunnel_address(role, family),
                peer_address: tunnel_address(other, family),
                mtu: LINK_MTU - TUNNEL_OVERHEAD,
            };
            let tunnel = Service::start(
                &context.binaries,
                &host,
                spec,
                &format!("tunnel-{role}"),
                dir,
            )?;
            tunnel.configure()?;
            tunnels.push(tunnel);
        }
        let server_host = topology.host(SERVER);
        let mut spec = ServerSpec::new(
            &context.fixture,
            SocketAddr::new(server_host.address(), TRICKLES_PORT),
            server_host.control(server::CONTROL_PORT)?,
        );
        spec.config.tcp_listen = Some(SocketAddr::new(tunnel_address(SERVER, family), HTTP_PORT));
        spec.config.balancers = vec![mirror_addr];
        spec.config.mss = Some(MIRRORED_MSS);
        let server = Service::start(&context.binaries, &server_host, spec, "server", dir)?;
        let mut mirrored = MirroredTestbed {
            mirror: None,
            server,
            tunnels,
            topology,
            binaries: context.binaries.clone(),
            config_dir: dir.to_path_buf(),
            family,
            seed: setup.seed,
            starts: 0,
        };
        mirrored.set_path(setup.path)?;
        mirrored.set_bottleneck(setup.rate_bits, setup.queue_bytes)?;
        Ok(mirrored)
    }

    /// Restarts the mirror with `path` (the tunnels and the server stay up).
    pub fn set_path(&mut self, path: EmulatedPath) -> Result<()> {
        if let Some(mirror) = self.mirror.take() {
            mirror.stop()?;
        }
        let host = self.topology.host(MIRROR);
        let spec = self.mirror_spec(path)?;
        let name = format!("mirror-{}", self.starts);
        self.starts += 1;
        self.mirror = Some(Service::start(
            &self.binaries,
            &host,
            spec,
            &name,
            &self.config_dir,
        )?);
        Ok(())
    }

    /// Shapes what the router forwards toward the clients: `rate_bits` per second, a queue of
    /// `queue_bytes`.
    pub fn set_bottleneck(&self, rate_bits: u64, queue_bytes: u64) -> Result<()> {
        self.topology.shape_toward(CLIENTS, rate_bits, queue_bytes)
    }

    /// The mirror's configuration for `path`: the two hosts as its only peers (by address, any
    /// port: the Trickles client and server and the tunnel endpoints), the delay queue large
    /// enough for a 250 ms path at 1 Gbit/s.
    pub fn mirror_spec(&self, path: EmulatedPath) -> Result<MirrorSpec> {
        let address = |role| self.topology.host(role).address().to_string();
        let control = self.topology.host(MIRROR).control(mirror::CONTROL_PORT)?;
        let wan = EmulatedWan {
            delay_ms: path.one_way_delay_ms,
            loss: path.loss,
            seed: self.seed.wrapping_add(self.starts as u64),
        };
        let spec = MirrorSpec::new(
            self.mirror_addr(),
            control,
            &address(CLIENTS),
            &address(SERVER),
            wan,
        )?;
        Ok(spec.with_delay_queue(262_144, 268_435_456))
    }

    /// The URL of `file` for `protocol`: the server's Trickles address (reached through the
    /// mirror with `--via`), or its tunnel address for HTTP over TCP.
    pub fn url(&self, protocol: Protocol, file: &str) -> String {
        let address = match protocol {
            Protocol::Trickles => self.topology.host(SERVER).address(),
            Protocol::Tcp => tunnel_address(SERVER, self.family),
        };
        super::context::url(protocol, address, file)
    }

    /// Starts `trickles-client` in the clients' host: through the mirror (`--via`) for
    /// Trickles, plainly for HTTP (the tunnel carries it through the mirror).
    pub fn start_client(
        &self,
        context: &Context,
        protocol: Protocol,
        mut spec: ClientSpec,
    ) -> Result<ClientProcess> {
        if protocol == Protocol::Trickles {
            spec.via = Some(self.mirror_addr());
        }
        ClientProcess::start(&context.binaries, &self.topology.host(CLIENTS), spec)
    }

    /// The mirror's UDP address.
    pub fn mirror_addr(&self) -> SocketAddr {
        SocketAddr::new(self.topology.host(MIRROR).address(), MIRROR_PORT)
    }

    /// Fails, quoting its log, if the mirror, a tunnel endpoint or the server has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(mirror) = &mut self.mirror {
            mirror.check_running()?;
        }
        for tunnel in &mut self.tunnels {
            tunnel.check_running()?;
        }
        self.server.check_running()
    }

    /// The round trip through the mirror, as TCP sees it: the median time of a few TCP
    /// connections from the clients' host to the server's tunnel address (the handshake is
    /// one round trip).
    pub fn probe_rtt(&self) -> Result<Duration> {
        let target = SocketAddr::new(tunnel_address(SERVER, self.family), HTTP_PORT);
        let limit = Duration::from_secs(5);
        let mut samples = self
            .topology
            .host(CLIENTS)
            .probe(|| {
                (0..RTT_PROBES)
                    .map(|_| {
                        let started = Instant::now();
                        TcpStream::connect_timeout(&target, limit).map(|_| started.elapsed())
                    })
                    .collect::<std::io::Result<Vec<Duration>>>()
            })
            .ok_or_else(|| LabError::Usage("the clients' namespace is gone".to_owned()))?
            .map_err(|e| {
                LabError::process(format!("connecting to {target} through the mirror"), e)
            })?;
        samples.sort();
        Ok(samples[samples.len() / 2])
    }

    /// The counters showing whether the mirror, the tunnels and the hosts kept up, and what
    /// the path dropped (see [`PathCounters`]).
    pub fn counters(&self) -> Result<PathCounters> {
        let metrics = self
            .mirror
            .as_ref()
            .and_then(Service::metrics)
            .unwrap_or_default();
        let drops = "trickles_mirror_emulated_drops_total";
        let testbed = self.topology.testbed()?;
        let mut counters = PathCounters {
            mirror_received: metric_sum(&metrics, "trickles_mirror_received_packets_total", &[]),
            mirror_rejects: metric_sum(&metrics, "trickles_mirror_rejects_total", &[]),
            mirror_send_errors: metric_sum(&metrics, "trickles_mirror_send_errors_total", &[]),
            mirror_queue_full: metric_sum(&metrics, drops, &["cause=\"delay_queue_full\""])
                + metric_sum(&metrics, drops, &["cause=\"bottleneck_full\""]),
            emulated_loss: metric_sum(&metrics, drops, &["cause=\"random_loss\""])
                + metric_sum(&metrics, drops, &["cause=\"burst_loss\""]),
            mirror_socket_overflows: socket_overflows(testbed.host(MIRROR))?,
            ..PathCounters::default()
        };
        for role in [CLIENTS, SERVER] {
            let host = testbed.host(role);
            counters.host_socket_overflows += socket_overflows(host)?;
            counters.tun_drops += tun_drops(host)?;
        }
        let interface = testbed.host(CLIENTS).router_interface();
        counters.bottleneck_drops = qdisc_drops(
            &testbed
                .router()
                .tc(&["-s", "qdisc", "show", "dev", &interface])?,
        );
        Ok(counters)
    }
}

/// TCP socket buffers large enough that neither end's window limits a 100 Mbit/s flow over
/// 250 ms (3 MB in flight, as much again queued), so only congestion control does (Trickles'
/// client offers 16 MiB).
fn enlarge_tcp_buffers(host: &NamespaceHost) -> Result<()> {
    let namespace = host.namespace();
    namespace.sysctl("net.ipv4.tcp_rmem", "4096 131072 16777216")?;
    Ok(namespace.sysctl("net.ipv4.tcp_wmem", "4096 16384 16777216")?)
}

/// The tunnel address of `role`'s host: 198.19.0.1 (clients), 198.19.0.2 (server), or
/// 2001:2:0:ff00::1 / ::2, outside the star's per-host ranges.
pub fn tunnel_address(role: &str, family: Family) -> IpAddr {
    let last = if role == CLIENTS { 1 } else { 2 };
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(198, 19, 0, last as u8)),
        Family::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0xff00, 0, 0, 0, last)),
    }
}

/// UDP receive-buffer overflows in `host`'s namespace, both families.
fn socket_overflows(host: &NamespaceHost) -> Result<u64> {
    let namespace = host.namespace();
    let snmp = namespace.exec("cat", &["/proc/net/snmp"])?;
    let snmp6 = namespace
        .exec("cat", &["/proc/net/snmp6"])
        .unwrap_or_default();
    Ok(udp_receive_overflows(&snmp, &snmp6))
}

/// Packets `host`'s TUN device dropped on the way to its endpoint: the device's transmit
/// drops (its ring full: the endpoint did not read in time) and its qdisc's.
fn tun_drops(host: &NamespaceHost) -> Result<u64> {
    let namespace = host.namespace();
    let device = namespace.exec(
        "cat",
        &[&format!(
            "/sys/class/net/{TUNNEL_DEVICE}/statistics/tx_dropped"
        )],
    )?;
    let qdisc = namespace.tc(&["-s", "qdisc", "show", "dev", TUNNEL_DEVICE])?;
    Ok(device.trim().parse::<u64>().unwrap_or(0) + qdisc_drops(&qdisc))
}
