//! Direct server return on the namespace topology: the VIP is an address of its own
//! ([`DSR_VIP_V4`], [`DSR_VIP_V6`]) on the balancer host's loopback, routed to it by the router,
//! and on every replica's loopback too, with the sysctls a replica holding the VIP needs
//! (`arp_ignore`/`arp_announce`, and `accept_local`, since the balancer forwards from the VIP
//! the replica also holds). Replicas run with `dsr_vips: [VIP]` and answer the client straight
//! from the VIP (docs/NETWORK-FUNCTIONS.md §3.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::Result;
use crate::service::server::TRICKLES_PORT;
use crate::topology::{Family, Host, Topology};

/// The direct-return VIP (IPv4): in 198.18.0.0/15, outside the testbed's link subnets.
pub const DSR_VIP_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 100);
/// The direct-return VIP (IPv6): in 2001:2::/48, outside the testbed's link subnets.
pub const DSR_VIP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 0x100);

/// Places the VIP on the balancer host and on every replica host; returns VIP:port.
pub fn place_vip(topology: &Topology, replicas: &[Host]) -> Result<SocketAddr> {
    let testbed = topology.testbed()?;
    let family = topology.family();
    let vip = match family {
        Family::V4 => IpAddr::V4(DSR_VIP_V4),
        Family::V6 => IpAddr::V6(DSR_VIP_V6),
    };
    let balancer = testbed.host("balancer");
    balancer.add_loopback_address(vip)?;
    let prefix = match family {
        Family::V4 => format!("{vip}/32"),
        Family::V6 => format!("{vip}/128"),
    };
    testbed.router().ip(&[
        "route",
        "add",
        &prefix,
        "via",
        &balancer.address(family).to_string(),
    ])?;
    for replica in replicas {
        let host = testbed.host(replica.role());
        let namespace = host.namespace();
        // The VIP is on lo: answer no ARP for it and never announce it as a source.
        namespace.sysctl("net.ipv4.conf.all.arp_ignore", "1")?;
        namespace.sysctl("net.ipv4.conf.all.arp_announce", "2")?;
        // The balancer forwards from the VIP the replica holds too: without accept_local the
        // kernel drops those IPv4 datagrams as martians.
        namespace.sysctl("net.ipv4.conf.all.accept_local", "1")?;
        namespace.sysctl("net.ipv4.conf.eth0.accept_local", "1")?;
        host.add_loopback_address(vip)?;
    }
    Ok(SocketAddr::new(vip, TRICKLES_PORT))
}
