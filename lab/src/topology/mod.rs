//! Where a lab run happens: a [`Topology`] of named hosts, and the [`Host`] a service is placed
//! in.
//!
//! Two shapes, one interface:
//! - **loopback** ([`Topology::loopback`]): every host is 127.0.0.1 (or ::1) in the lab's own
//!   network namespace, so every service gets an ephemeral port and nothing needs root. The demo,
//!   the chain, the benchmarks and most tests run here.
//! - **namespaces** ([`Topology::star`]): every host is a network namespace around a forwarding
//!   router ([`star`]), with `198.18.i.2` / `2001:2:0:i::2`, links that can be shaped, cut and
//!   restored. The experiments run here; a service binds its well-known port on its host's
//!   address.
//!
//! A scenario asks `topology.host("r0")` and starts services there; which shape it runs on is the
//! caller's choice. Everything namespace-specific needs root ([`privilege::require_root`]); the
//! [`StarTestbed`] guard deletes its namespaces on drop, Ctrl-C unwinds to that drop, and a run
//! killed outright leaves namespaces that the next run removes ([`namespace::remove_stale`]).

/// The configuration tools (`ip`, `tc`, `sysctl`) run with their output quoted on failure.
pub use trickles_testkit::command_line;
/// Network namespaces, shared with every crate's tests.
pub use trickles_testkit::namespace;
pub mod privilege;
pub mod star;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use namespace::{Namespace, NamespaceRef};
pub use privilege::require_root;
pub use star::{Family, NamespaceHost, StarTestbed, HOST_INTERFACE};

use crate::error::{LabError, Result};
use crate::ports;

/// A place to run services: its address, and the network namespace it lives in (none on
/// loopback). Cheap to clone; services keep one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    role: String,
    address: IpAddr,
    netns: Option<NamespaceRef>,
}

impl Host {
    /// A host on the lab's own loopback (127.0.0.1 or ::1).
    pub fn loopback(role: &str, address: IpAddr) -> Self {
        Host {
            role: role.to_owned(),
            address,
            netns: None,
        }
    }

    /// The role it was created with, e.g. `"r0"`.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Its address: what other hosts reach it at.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The network namespace its processes start in (`None`: the lab's own).
    pub fn netns(&self) -> Option<&NamespaceRef> {
        self.netns.as_ref()
    }

    /// Whether it is a host of the loopback topology.
    pub fn is_loopback(&self) -> bool {
        self.netns.is_none()
    }

    /// A UDP address of this host for a service's socket: `port` in a namespace (every host has
    /// its own addresses, so well-known ports do not collide), a free port on loopback.
    pub fn udp(&self, port: u16) -> Result<SocketAddr> {
        match self.netns {
            Some(_) => Ok(SocketAddr::new(self.address, port)),
            None => ports::free_udp(self.address),
        }
    }

    /// A TCP address of this host, chosen as [`udp`](Self::udp) chooses.
    pub fn tcp(&self, port: u16) -> Result<SocketAddr> {
        match self.netns {
            Some(_) => Ok(SocketAddr::new(self.address, port)),
            None => ports::free_tcp(self.address),
        }
    }

    /// An address for a control endpoint (`/metrics`, `/healthz`): `port` on the host's address
    /// in a namespace (the lab's probes reach it from inside, a Prometheus in the router from
    /// outside: `--observe`), a free loopback port on loopback.
    pub fn control(&self, port: u16) -> Result<SocketAddr> {
        self.tcp(port)
    }

    /// Runs `work` inside the host's namespace (on a thread that joined it), or right here on
    /// loopback; `None` if the namespace cannot be entered. For the lab's own probes.
    pub fn probe<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Option<T> {
        namespace::run_in(self.netns.as_ref(), work)
    }

    /// Makes `command` start inside the host's namespace (nothing to do on loopback).
    pub fn enter(&self, command: &mut std::process::Command) -> Result<()> {
        match &self.netns {
            Some(netns) => Ok(netns.enter(command)?),
            None => Ok(()),
        }
    }
}

/// The hosts of a run.
#[derive(Debug)]
pub enum Topology {
    /// Every host is the lab's loopback address.
    Loopback {
        /// 127.0.0.1 or ::1.
        address: IpAddr,
    },
    /// Every host a namespace around a router.
    Star {
        /// The namespaces (deleted when dropped).
        testbed: StarTestbed,
        /// Which addresses the hosts are reached at.
        family: Family,
    },
}

impl Topology {
    /// The degenerate topology: every host is `address` (127.0.0.1 or ::1); no root needed.
    pub fn loopback(address: IpAddr) -> Result<Self> {
        if !address.is_loopback() {
            return Err(LabError::Usage(format!(
                "{address} is not a loopback address (use 127.0.0.1 or ::1)"
            )));
        }
        Ok(Topology::Loopback { address })
    }

    /// One namespace per role around a router (needs root; `what` names the run in the error).
    pub fn star(what: &str, roles: &[&str], family: Family) -> Result<Self> {
        require_root(what)?;
        Ok(Topology::Star {
            testbed: StarTestbed::build(roles)?,
            family,
        })
    }

    /// The host playing `role`: on loopback any role is the loopback address.
    pub fn host(&self, role: &str) -> Host {
        match self {
            Topology::Loopback { address } => Host::loopback(role, *address),
            Topology::Star { testbed, family } => {
                let host = testbed.host(role);
                Host {
                    role: role.to_owned(),
                    address: host.address(*family),
                    netns: Some(host.handle()),
                }
            }
        }
    }

    /// The router's namespace as a [`Host`] (to run a routing daemon there), reached at its
    /// address on the first host's link.
    pub fn router_host(&self) -> Result<Host> {
        let testbed = self.testbed()?;
        let first = testbed.hosts().first().ok_or_else(|| {
            LabError::Usage("a testbed without hosts has no router address".to_owned())
        })?;
        Ok(Host {
            role: "router".to_owned(),
            address: first.gateway(self.family()),
            netns: Some(testbed.router().handle()),
        })
    }

    /// The address family of the run.
    pub fn family(&self) -> Family {
        match self {
            Topology::Loopback { address } if address.is_ipv6() => Family::V6,
            Topology::Loopback { .. } => Family::V4,
            Topology::Star { family, .. } => *family,
        }
    }

    /// The namespaces, when the run has them (for what only namespaces can do: sysctls, loopback
    /// VIPs, routes on the router).
    pub fn testbed(&self) -> Result<&StarTestbed> {
        match self {
            Topology::Star { testbed, .. } => Ok(testbed),
            Topology::Loopback { .. } => Err(LabError::Usage(
                "this needs the namespace topology (links, routes and sysctls of its own); \
                 loopback has none"
                    .to_owned(),
            )),
        }
    }

    /// Shapes what the router forwards toward `role` (see [`StarTestbed::shape_toward`]).
    pub fn shape_toward(&self, role: &str, rate_bits: u64, queue_bytes: u64) -> Result<()> {
        self.testbed()?.shape_toward(role, rate_bits, queue_bytes)
    }

    /// Cuts `role`'s link: both ends down, so packets to and from it are lost, as when a
    /// host's cable is pulled.
    pub fn cut_link(&self, role: &str) -> Result<()> {
        self.testbed()?.set_link(role, false)
    }

    /// Restores `role`'s link (and its default routes, which the kernel removed with it).
    pub fn restore_link(&self, role: &str) -> Result<()> {
        self.testbed()?.set_link(role, true)
    }
}

/// The unspecified address of `family` (binding every address of a host).
pub fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_share_the_address_and_get_free_ports() {
        let topology = Topology::loopback(IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("loopback");
        let (a, b) = (topology.host("r0"), topology.host("r1"));
        assert_eq!(a.address(), b.address());
        assert!(a.is_loopback() && a.netns().is_none());
        let (pa, pb) = (a.udp(4433).expect("port"), b.udp(4433).expect("port"));
        assert_eq!(pa.ip(), a.address());
        assert_ne!(pa.port(), 0);
        assert!(a.control(9100).expect("port").ip().is_loopback());
        assert_eq!(a.probe(|| 7), Some(7));
        assert!(pb.port() != 0);
    }

    #[test]
    fn a_loopback_topology_refuses_what_only_namespaces_do() {
        let topology = Topology::loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)).expect("loopback");
        assert_eq!(topology.family(), Family::V6);
        let error = topology.cut_link("r0").expect_err("no links on loopback");
        assert!(error.to_string().contains("namespace"), "{error}");
        assert!(Topology::loopback("198.18.0.1".parse().expect("ip")).is_err());
    }
}
