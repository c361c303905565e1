//! [`Site`]: one anycast site in one namespace host (`site-a`, `site-b`, ...): the anycast
//! address on its loopback, a `trickles-balancer` on it (relay mode) in front of two
//! `trickles-server` replicas sharing the fixture's key, its BIRD (eBGP to the router) and its
//! `trickles-anycast` (health-checks the balancer, enables BIRD's static route). The site is
//! set up as docs/ANYCAST.md §3 says: a veth pair `anycast-bird`/`anycast-ctl` carries the BFD
//! session between BIRD and the controller.
//!
//! The balancer carries Trickles (UDP) only, so the TCP baseline is replica 0's HTTP listener
//! bound to the anycast address on port 8080: every site serves the same file at the same
//! address, as a TCP anycast deployment would.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::LAB_MSS;
use crate::binaries::Binaries;
use crate::error::Result;
use crate::fixture::ServiceFixture;
use crate::service::anycast::{self, Announce, AnycastSpec};
use crate::service::balancer::{self, BalancerSpec, ModeFile, PolicyFile};
use crate::service::bird::{BgpPeer, BirdRole, BirdSpec, ROUTER_AS, SITE_AS};
use crate::service::server::{self, ServerSpec};
use crate::service::Service;
use crate::topology::{Host, Topology};

/// Replicas per site.
pub const REPLICAS: usize = 2;
/// The site BIRD's static protocol (the controller's announcement).
pub const STATIC_PROTOCOL: &str = "anycast";
/// The site BIRD's BGP session to the router.
pub const UPLINK: &str = "uplink";
/// BIRD's end of the BFD veth pair.
const BIRD_VETH: &str = "anycast-bird";
/// The controller's end.
const CONTROLLER_VETH: &str = "anycast-ctl";
/// First replica's UDP port on the site's address.
const REPLICA_PORT: u16 = 5001;
/// First replica's control port (the site's replicas share its namespace).
const REPLICA_CONTROL_PORT: u16 = 9101;

/// One running site; its processes are killed when it is dropped.
pub struct Site {
    /// Its host's role, e.g. `site-a`.
    pub name: String,
    /// Its address on its link (the router's next hop toward it).
    pub address: IpAddr,
    /// Its BIRD.
    pub bird: Service<BirdSpec>,
    /// Its controller.
    pub controller: Service<AnycastSpec>,
    /// Its balancer, on the anycast address.
    pub balancer: Service<BalancerSpec>,
    /// Its replicas (replica 0 also serves HTTP on the anycast address).
    pub replicas: Vec<Service<ServerSpec>>,
}

impl Site {
    /// Sets up host `name` (site number `index`) serving `anycast`, and starts its services;
    /// with `joins_later` its BGP session starts disabled (enable [`UPLINK`] to join).
    pub fn start(
        binaries: &Binaries,
        topology: &Topology,
        fixture: &ServiceFixture,
        (name, index): (&str, usize),
        anycast: IpAddr,
        joins_later: bool,
    ) -> Result<Self> {
        let host = topology.host(name);
        let bfd_address = wire_site(topology, name, anycast)?;
        let dir = fixture.path();
        let vip = SocketAddr::new(anycast, server::TRICKLES_PORT);
        let mut replicas = Vec::with_capacity(REPLICAS);
        let mut backends = Vec::with_capacity(REPLICAS);
        for i in 0..REPLICAS {
            let port = u16::try_from(i).unwrap_or(0);
            let listen = host.udp(REPLICA_PORT + port)?;
            let mut spec =
                ServerSpec::new(fixture, listen, host.control(REPLICA_CONTROL_PORT + port)?);
            spec.config.balancers = vec![vip];
            spec.config.mss = Some(LAB_MSS);
            if i == 0 {
                spec.config.tcp_listen = Some(SocketAddr::new(anycast, server::HTTP_PORT));
            }
            let label = format!("{name}-r{i}");
            replicas.push(Service::start(binaries, &host, spec, &label, dir)?);
            backends.push(listen);
        }
        let control = host.control(balancer::CONTROL_PORT)?;
        let spec = BalancerSpec::new(vip, control, PolicyFile::Maglev, ModeFile::Relay, &backends);
        let balancer = Service::start(binaries, &host, spec, &format!("{name}-balancer"), dir)?;
        let socket = dir.join(format!("{name}-bird.ctl"));
        let bird = Service::start(
            binaries,
            &host,
            site_bird(
                topology,
                &host,
                index,
                anycast,
                bfd_address,
                joins_later,
                &socket,
            ),
            &format!("{name}-bird"),
            dir,
        )?;
        let announce = Announce {
            protocol: STATIC_PROTOCOL.to_owned(),
            address: anycast,
            bfd_address,
            checks: vec![vip],
        };
        let state = dir.join(format!("{name}-anycast.state.json"));
        let spec = AnycastSpec::new(
            &socket,
            host.control(anycast::CONTROL_PORT)?,
            state,
            announce,
        )?;
        let controller = Service::start(binaries, &host, spec, &format!("{name}-anycast"), dir)?;
        Ok(Site {
            name: name.to_owned(),
            address: host.address(),
            bird,
            controller,
            balancer,
            replicas,
        })
    }

    /// Trickles packets its replicas have sent (`None` when none answers).
    pub fn packets_sent(&self) -> Option<f64> {
        let counts: Vec<f64> = self
            .replicas
            .iter()
            .filter_map(Service::packets_sent)
            .collect();
        (!counts.is_empty()).then(|| counts.iter().sum())
    }

    /// Fails, quoting its log, if a process that should run has died.
    pub fn check(&mut self) -> Result<()> {
        self.bird.check_running()?;
        self.controller.check_running()?;
        self.balancer.check_running()?;
        self.replicas
            .iter_mut()
            .try_for_each(Service::check_running)
    }
}

/// The anycast address on the site's loopback, and the BFD veth pair (docs/ANYCAST.md §3.1);
/// returns the controller's BFD address.
fn wire_site(topology: &Topology, name: &str, anycast: IpAddr) -> Result<IpAddr> {
    let host = topology.testbed()?.host(name);
    host.add_loopback_address(anycast)?;
    let ns = host.namespace();
    ns.ip(&[
        "link",
        "add",
        BIRD_VETH,
        "type",
        "veth",
        "peer",
        "name",
        CONTROLLER_VETH,
    ])?;
    for (device, v4, v6) in [
        (BIRD_VETH, "198.18.255.1/30", "2001:2:0:ff::1/64"),
        (CONTROLLER_VETH, "198.18.255.2/30", "2001:2:0:ff::2/64"),
    ] {
        ns.ip(&["address", "add", v4, "dev", device])?;
        ns.ip(&["address", "add", v6, "dev", device, "nodad"])?;
        ns.ip(&["link", "set", device, "up"])?;
    }
    // BIRD's IPv4 BFD packets arrive on anycast-ctl from an address of this host.
    ns.sysctl(
        &format!("net.ipv4.conf.{CONTROLLER_VETH}.accept_local"),
        "1",
    )?;
    ns.sysctl(&format!("net.ipv4.conf.{CONTROLLER_VETH}.rp_filter"), "0")?;
    Ok(match anycast {
        IpAddr::V4(_) => "198.18.255.2".parse().expect("literal"),
        IpAddr::V6(_) => "2001:2:0:ff::2".parse().expect("literal"),
    })
}

/// The site's BIRD: the guarded static route, eBGP to the router on the site's link.
fn site_bird(
    topology: &Topology,
    host: &Host,
    index: usize,
    anycast: IpAddr,
    bfd_next_hop: IpAddr,
    joins_later: bool,
    socket: &std::path::Path,
) -> BirdSpec {
    let family = topology.family();
    let gateway = topology.testbed().map_or(host.address(), |testbed| {
        testbed.host(host.role()).gateway(family)
    });
    let number = u32::try_from(index).unwrap_or(0);
    BirdSpec {
        router_id: Ipv4Addr::new(198, 18, 254, 2 + u8::try_from(index).unwrap_or(0)),
        family,
        local_as: SITE_AS + number,
        peers: vec![BgpPeer {
            name: UPLINK.to_owned(),
            neighbor: gateway,
            neighbor_as: ROUTER_AS,
            local_pref: 100,
            disabled: joins_later,
        }],
        role: BirdRole::Site {
            protocol: STATIC_PROTOCOL.to_owned(),
            prefix: anycast,
            bfd_next_hop,
            bfd_interface: BIRD_VETH.to_owned(),
        },
        socket: socket.to_path_buf(),
    }
}
