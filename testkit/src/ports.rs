//! Free ports: an address on loopback whose port nobody holds right now (bound, read,
//! released), for a service the test starts next; and whether an address family is usable
//! here at all (IPv6 loopback is missing on some CI machines).
//!
//! The port may be taken by someone else between the check and its use; on loopback, in a
//! test, that is rare enough.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

/// IPv4 loopback.
pub const LOOPBACK_V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// IPv6 loopback.
pub const LOOPBACK_V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A free UDP port on `ip` (`None` when the address cannot be bound, e.g. no IPv6 here).
pub fn free_udp_addr_on(ip: IpAddr) -> Option<SocketAddr> {
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .ok()?
        .local_addr()
        .ok()
}

/// A free TCP port on `ip` (`None` when the address cannot be bound).
pub fn free_tcp_addr_on(ip: IpAddr) -> Option<SocketAddr> {
    TcpListener::bind(SocketAddr::new(ip, 0))
        .ok()?
        .local_addr()
        .ok()
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_addr() -> SocketAddr {
    free_udp_addr_on(LOOPBACK_V4).expect("IPv4 loopback can be bound")
}

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_addr() -> SocketAddr {
    free_tcp_addr_on(LOOPBACK_V4).expect("IPv4 loopback can be bound")
}

/// Whether `ip` can be bound here (a test of IPv6 says so and passes when it cannot).
pub fn can_bind(ip: IpAddr) -> bool {
    free_udp_addr_on(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound_again() {
        let udp = free_udp_addr();
        UdpSocket::bind(udp).expect("still free");
        let tcp = free_tcp_addr();
        TcpListener::bind(tcp).expect("still free");
        assert_ne!(udp.port(), 0);
    }

    #[test]
    fn free_ports_follow_the_family_asked_for() {
        if let Some(addr) = free_udp_addr_on(LOOPBACK_V6) {
            assert!(addr.is_ipv6());
        }
        assert!(free_udp_addr().is_ipv4());
    }
}
