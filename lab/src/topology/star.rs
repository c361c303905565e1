//! [`StarTestbed`]: hosts (one network namespace each) around one router namespace, every host
//! on its own veth link. NamespaceHost `i` (from 1) has `198.18.i.2/24` and `2001:2:0:i::2/64`, the
//! router's side of its link `.1` / `::1`; hosts route everything through the router, which
//! forwards both families with reverse-path filtering off (direct server return sends from an
//! address routed elsewhere).
//!
//! Rates are shaped where the router forwards ([`StarTestbed::shape_toward`]): a qdisc on the
//! sender's own interface would hold packets against the sending socket's buffer and push back
//! on the sender instead of dropping, which no real bottleneck does.
//!
//! Dropping the testbed kills every process left in its namespaces and deletes them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use super::namespace::{remove_stale, Namespace, NamespaceRef};
use crate::error::{LabError, Result};

/// Name of every host's interface toward the router.
pub const HOST_INTERFACE: &str = "eth0";
/// Most hosts one testbed can have (one /24 of 198.18.0.0/16 each).
pub const MAX_HOSTS: usize = 250;

/// Numbers the testbeds of one process, so several can exist at once (tests run in parallel).
static NEXT_TESTBED: AtomicU32 = AtomicU32::new(0);

/// IPv4 or IPv6: which addresses a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// 198.18.0.0/15.
    V4,
    /// 2001:2::/48.
    V6,
}

/// One host of the testbed.
#[derive(Debug)]
pub struct NamespaceHost {
    role: String,
    index: u8,
    namespace: Namespace,
}

/// The testbed: a router and its hosts.
#[derive(Debug)]
pub struct StarTestbed {
    // Hosts first: fields drop in order, and a host's processes go before the router's.
    hosts: Vec<NamespaceHost>,
    router: Namespace,
}

impl NamespaceHost {
    /// The role it was created with, e.g. `"server"`.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Its namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// A handle to start processes in it.
    pub fn handle(&self) -> NamespaceRef {
        self.namespace.handle()
    }

    /// The host's address.
    pub fn address(&self, family: Family) -> IpAddr {
        link_address(self.index, 2, family)
    }

    /// The router's address on this host's link.
    pub fn gateway(&self, family: Family) -> IpAddr {
        link_address(self.index, 1, family)
    }

    /// The router's interface toward this host.
    pub fn router_interface(&self) -> String {
        format!("h{}", self.index)
    }

    /// Adds `address` (a /32 or /128) to the host's loopback interface, as a replica holding a
    /// virtual IP for direct server return does.
    pub fn add_loopback_address(&self, address: IpAddr) -> Result<()> {
        let prefix = match address {
            IpAddr::V4(_) => format!("{address}/32"),
            IpAddr::V6(_) => format!("{address}/128"),
        };
        let mut args = vec!["address", "add", prefix.as_str(), "dev", "lo"];
        if address.is_ipv6() {
            args.push("nodad");
        }
        Ok(self.namespace.ip(&args).map(drop)?)
    }
}

impl StarTestbed {
    /// Builds a router and one host per role (in order: the first role is host 1).
    pub fn build(roles: &[&str]) -> Result<Self> {
        if roles.is_empty() || roles.len() > MAX_HOSTS {
            return Err(LabError::Usage(format!(
                "a testbed has 1 to {MAX_HOSTS} hosts, not {}",
                roles.len()
            )));
        }
        remove_stale();
        let testbed_id = NEXT_TESTBED.fetch_add(1, Ordering::Relaxed);
        let router = Namespace::create(&format!("{testbed_id}-router"))?;
        for key in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            router.sysctl(key, "1")?;
        }
        let mut testbed = StarTestbed {
            hosts: Vec::with_capacity(roles.len()),
            router,
        };
        for (position, role) in roles.iter().enumerate() {
            let index = u8::try_from(position + 1).expect("at most MAX_HOSTS hosts");
            let host = NamespaceHost {
                role: (*role).to_owned(),
                index,
                namespace: Namespace::create(&format!("{testbed_id}-{role}"))?,
            };
            testbed.wire(&host)?;
            testbed.hosts.push(host);
        }
        Ok(testbed)
    }

    /// The router's namespace.
    pub fn router(&self) -> &Namespace {
        &self.router
    }

    /// The host created with `role`.
    pub fn host(&self, role: &str) -> &NamespaceHost {
        self.hosts
            .iter()
            .find(|host| host.role == role)
            .unwrap_or_else(|| panic!("the testbed has no host {role:?}"))
    }

    /// Every host, in creation order.
    pub fn hosts(&self) -> &[NamespaceHost] {
        &self.hosts
    }

    /// Shapes what the router forwards toward `role` with a token bucket: `rate_bits` per
    /// second, a queue of at most `queue_bytes` (tail drop beyond).
    pub fn shape_toward(&self, role: &str, rate_bits: u64, queue_bytes: u64) -> Result<()> {
        let interface = self.host(role).router_interface();
        // The bucket must hold at least one maximal (GSO) packet, and enough for the timer
        // granularity at this rate.
        let burst = (rate_bits / 8 / 250).max(65_536 + 1_514);
        self.router.tc(&[
            "qdisc",
            "replace",
            "dev",
            &interface,
            "root",
            "tbf",
            "rate",
            &format!("{rate_bits}bit"),
            "burst",
            &burst.to_string(),
            "limit",
            &queue_bytes.max(burst).to_string(),
        ])?;
        Ok(())
    }

    /// Removes the shaping toward `role`.
    pub fn unshape_toward(&self, role: &str) -> Result<()> {
        let interface = self.host(role).router_interface();
        self.router
            .tc(&["qdisc", "del", "dev", &interface, "root"])?;
        Ok(())
    }

    /// Takes `role`'s link down (`up: false`: both ends, as a pulled cable) or brings it back
    /// with the host's default routes, which the kernel dropped with the link.
    pub fn set_link(&self, role: &str, up: bool) -> Result<()> {
        let host = self.host(role);
        let state = if up { "up" } else { "down" };
        self.router
            .ip(&["link", "set", &host.router_interface(), state])?;
        host.namespace.ip(&["link", "set", HOST_INTERFACE, state])?;
        if up {
            // The link's own routes come back a moment after it is up (IPv6 after the
            // interface's addresses are usable again); the default routes need them.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while let Err(error) = self.add_default_routes(host) {
                if std::time::Instant::now() >= deadline {
                    return Err(error);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// A host crash: every process in `role`'s namespace killed and the namespace deleted, its
    /// link with it, so no socket of the host survives (no FIN, no RST: the host is gone).
    pub fn crash_host(&self, role: &str) -> Result<()> {
        let host = self.host(role);
        // The link first: a socket of the host that outlives its processes (an orphaned TCP
        // connection) keeps the old namespace, and would keep its veth pair, alive.
        self.router.ip(&["link", "del", &host.router_interface()])?;
        host.namespace.destroy();
        Ok(())
    }

    /// The crashed host boots again: a new namespace of the same name, wired as before. What
    /// ran or was configured in it (qdiscs toward it, sysctls, services) is the caller's to
    /// set up again.
    pub fn revive_host(&self, role: &str) -> Result<()> {
        let host = self.host(role);
        host.namespace.recreate()?;
        self.wire(host)
    }

    /// One veth pair between the router and `host`, addresses, routes and sysctls.
    fn wire(&self, host: &NamespaceHost) -> Result<()> {
        let router_interface = host.router_interface();
        super::command_line::run(
            "ip",
            &[
                "link",
                "add",
                HOST_INTERFACE,
                "netns",
                host.namespace.name(),
                "type",
                "veth",
                "peer",
                "name",
                &router_interface,
                "netns",
                self.router.name(),
            ],
        )?;
        let ns = &host.namespace;
        for key in [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
        ] {
            ns.sysctl(key, "0")?;
            self.router.sysctl(key, "0")?;
        }
        // A link cut (taken down) keeps its IPv6 addresses for when it comes back.
        for (namespace, interface) in [
            (ns, HOST_INTERFACE),
            (&self.router, router_interface.as_str()),
        ] {
            namespace.sysctl(&format!("net.ipv6.conf.{interface}.keep_addr_on_down"), "1")?;
        }
        for (namespace, interface, own) in [
            (ns, HOST_INTERFACE, 2u8),
            (&self.router, router_interface.as_str(), 1u8),
        ] {
            for family in [Family::V4, Family::V6] {
                let address = format!(
                    "{}/{}",
                    link_address(host.index, own, family),
                    prefix_len(family)
                );
                let mut args = vec!["address", "add", address.as_str(), "dev", interface];
                if family == Family::V6 {
                    args.push("nodad");
                }
                namespace.ip(&args)?;
            }
            namespace.ip(&["link", "set", interface, "up"])?;
            namespace.sysctl(&format!("net.ipv4.conf.{interface}.rp_filter"), "0")?;
        }
        self.add_default_routes(host)
    }

    fn add_default_routes(&self, host: &NamespaceHost) -> Result<()> {
        for family in [Family::V4, Family::V6] {
            let gateway = host.gateway(family).to_string();
            let flag = if family == Family::V4 { "-4" } else { "-6" };
            host.namespace
                .ip(&[flag, "route", "replace", "default", "via", &gateway])?;
        }
        Ok(())
    }
}

/// Address `last` (1: router, 2: host) on link `index`.
fn link_address(index: u8, last: u8, family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(198, 18, index, last)),
        Family::V6 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            2,
            0,
            u16::from(index),
            0,
            0,
            0,
            u16::from(last),
        )),
    }
}

fn prefix_len(family: Family) -> u8 {
    match family {
        Family::V4 => 24,
        Family::V6 => 64,
    }
}
