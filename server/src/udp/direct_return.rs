//! Direct server return from the VIP: which address a replica's answers to DIRECT_RETURN
//! requests leave from (`docs/NETWORK-FUNCTIONS.md` §3.1).
//!
//! A `trickles-balancer` in `mode: direct_return` forwards a client's request with the
//! DIRECT_RETURN flag, and the replica answers the client itself, bypassing the balancer. The
//! client sent its request to the balancer's VIP, so the answer should come from the VIP too,
//! as in LVS-DR and Katran: anything on the way that matches replies to requests (a NAT, a
//! stateful firewall, a client socket connected to the VIP) drops a reply from elsewhere.
//!
//! With `dsr_vips` (`--dsr-vip VIP:PORT`, one IPv4 and/or one IPv6) every worker binds a socket
//! to each VIP ([`super::vip_sockets`]) and sends the replies to DIRECT_RETURN requests of a
//! client of that family through it: source address = VIP, source port = VIP port. The VIP must
//! be on a local interface (typically `lo`, where it answers no ARP with `arp_ignore=1` and
//! `arp_announce=2`); `dsr_vip_freebind` binds it before it is there (`IP_FREEBIND`). Without a
//! VIP of the client's family the reply leaves from the listen socket, as it always did; the
//! `trickles_server_direct_replies_total{source}` counter says which (`vip`, `own_address`).
//! Replies through a relay in front of the balancer (VIA, `ReplyRoute::Upstream`) and relayed
//! replies keep leaving from the listen socket: their next hop is a relay, not the client.

use std::collections::HashSet;
use std::net::SocketAddr;

/// The direct-return settings the server runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectReturnSettings {
    /// The VIPs replies leave from: at most one per address family.
    pub vips: Vec<SocketAddr>,
    /// Bind them with `IP_FREEBIND` / `IPV6_FREEBIND`.
    pub free_bind: bool,
}

/// A direct-return setting that makes no sense: the configuration key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidDirectReturn {
    /// `dsr_vips` or `dsr_vip_freebind`.
    pub key: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Check `vips` (and `free_bind`) against the UDP `listen` addresses.
pub fn resolve(
    vips: &[SocketAddr],
    free_bind: bool,
    listen: &[SocketAddr],
) -> Result<DirectReturnSettings, InvalidDirectReturn> {
    let invalid = |key, reason: String| Err(InvalidDirectReturn { key, reason });
    if free_bind && vips.is_empty() {
        return invalid(
            "dsr_vip_freebind",
            "dsr_vip_freebind without a VIP: give `dsr_vips` or --dsr-vip".into(),
        );
    }
    if !vips.is_empty() && listen.is_empty() {
        return invalid(
            "dsr_vips",
            "dsr_vips answer UDP requests, but no UDP `listen` address is given".into(),
        );
    }
    let mut families = HashSet::new();
    for vip in vips {
        let ip = vip.ip();
        if ip.is_unspecified() || ip.is_multicast() || vip.port() == 0 {
            return invalid(
                "dsr_vips",
                format!(
                    "dsr VIP {vip} is not a unicast address and port: give the VIP:PORT \
                     clients send to"
                ),
            );
        }
        if !families.insert(vip.is_ipv4()) {
            return invalid(
                "dsr_vips",
                format!(
                    "more than one {} dsr VIP: the balancer's header does not say which VIP a \
                     client used, so give at most one IPv4 and one IPv6",
                    if vip.is_ipv4() { "IPv4" } else { "IPv6" }
                ),
            );
        }
        if listen.contains(vip) {
            return invalid(
                "dsr_vips",
                format!(
                    "{vip} is both a listen address and a dsr VIP: the sockets sending from \
                     the VIP would take a share of its incoming datagrams; remove it from one"
                ),
            );
        }
    }
    Ok(DirectReturnSettings {
        vips: vips.to_vec(),
        free_bind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().expect("addr")).collect()
    }

    #[test]
    fn one_vip_per_family_is_accepted() {
        let vips = addrs(&["198.18.0.100:4433", "[2001:2::100]:4433"]);
        let settings = resolve(&vips, true, &addrs(&["0.0.0.0:4433", "[::]:4433"])).expect("valid");
        assert_eq!(settings.vips, vips);
        assert!(settings.free_bind);
    }

    #[test]
    fn two_vips_of_one_family_are_refused() {
        let error = resolve(
            &addrs(&["198.18.0.100:4433", "198.18.0.101:4433"]),
            false,
            &addrs(&["0.0.0.0:4433"]),
        )
        .expect_err("ambiguous");
        assert_eq!(error.key, "dsr_vips");
        assert!(error.reason.contains("one IPv4"), "{}", error.reason);
    }

    #[test]
    fn nonsense_vips_are_refused() {
        let listen = addrs(&["0.0.0.0:4433"]);
        for vip in [
            "0.0.0.0:4433",
            "198.18.0.100:0",
            "224.0.0.1:4433",
            "[::]:4433",
        ] {
            let error = resolve(&addrs(&[vip]), false, &listen).expect_err(vip);
            assert!(error.reason.contains(vip), "{}", error.reason);
        }
    }

    #[test]
    fn a_vip_that_is_also_a_listen_address_is_refused() {
        let error = resolve(
            &addrs(&["198.18.0.100:4433"]),
            false,
            &addrs(&["198.18.0.100:4433"]),
        )
        .expect_err("overlap");
        assert!(error.reason.contains("both"), "{}", error.reason);
    }

    #[test]
    fn freebind_without_a_vip_or_a_vip_without_udp_is_refused() {
        let error = resolve(&[], true, &addrs(&["0.0.0.0:4433"])).expect_err("no VIP");
        assert_eq!(error.key, "dsr_vip_freebind");
        let error = resolve(&addrs(&["198.18.0.100:4433"]), false, &[]).expect_err("no UDP");
        assert_eq!(error.key, "dsr_vips");
        assert_eq!(
            resolve(&[], false, &[]),
            Ok(DirectReturnSettings::default())
        );
    }
}
