//! Addresses as relays compare them: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
//! dual-stack socket reports for an IPv4 sender) is the IPv4 address it carries.
//!
//! The mirror matches peers, counts sources and names destinations in this form, and the
//! end-host codec ([`crate::mirror_shim`]) writes and checks addresses in it, so that one host
//! is one address whichever socket family saw it.

use std::net::{IpAddr, SocketAddr};

/// The address as the mirror compares it: IPv4-mapped IPv6 becomes IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `addr` with its IP made canonical ([`canonical_ip`]).
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(addr.ip()), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    #[test]
    fn a_mapped_address_is_the_ipv4_address_it_carries_and_others_are_unchanged() {
        assert_eq!(
            canonical(addr("[::ffff:198.18.0.7]:4433")),
            addr("198.18.0.7:4433")
        );
        assert_eq!(canonical(addr("198.18.0.7:4433")), addr("198.18.0.7:4433"));
        assert_eq!(
            canonical(addr("[2001:2::7]:4433")),
            addr("[2001:2::7]:4433")
        );
    }
}
