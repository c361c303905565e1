//! Which addresses a configured peer sends from: one exact `ip:port`, or a whole prefix.
//!
//! Written in the configuration as `192.0.2.7:4433`, `[2001:db8::1]:4433` (exact),
//! `192.0.2.0/24`, `2001:db8::/32` (prefix, any port) or a bare IP (`127.0.0.1`, `::1`: that
//! address, any port). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket
//! reports for an IPv4 sender) are matched as the IPv4 address they carry.
//!
//! When several patterns match, the most specific one wins: an exact `ip:port` beats any
//! prefix, a longer prefix beats a shorter one ([`AddressPattern::specificity`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use trickles_netfn::canonical_addr::{canonical, canonical_ip};

/// An exact socket address or an IP prefix (any port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressPattern {
    /// This address and port only.
    Exact(SocketAddr),
    /// Every address whose first `len` bits equal those of the network, any port.
    Prefix {
        /// The network address (host bits are zero).
        network: IpAddr,
        /// Prefix length in bits.
        len: u8,
    },
}

/// Why text is not an address pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an address (ip:port, ip, or ip/len): {reason}")]
pub struct AddressPatternError {
    text: String,
    reason: &'static str,
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n.min(128))),
    }
}

impl AddressPattern {
    /// All ports of one IP.
    pub fn host(ip: IpAddr) -> Self {
        let ip = canonical_ip(ip);
        AddressPattern::Prefix {
            network: ip,
            len: if ip.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `addr` is one of the pattern's addresses.
    pub fn matches(&self, addr: SocketAddr) -> bool {
        let addr = canonical(addr);
        match *self {
            AddressPattern::Exact(exact) => canonical(exact) == addr,
            AddressPattern::Prefix { network, len } => {
                if network.is_ipv4() != addr.is_ipv4() {
                    return false;
                }
                // IPv4 lengths count from the top of the 32 bits placed at bit 96.
                let m = mask(len);
                bits(network) & m == bits(addr.ip()) & m
            }
        }
    }

    /// How specific the pattern is: larger wins. An exact address ranks above every prefix.
    pub fn specificity(&self) -> u16 {
        match *self {
            AddressPattern::Exact(_) => 256,
            // An IPv4 /32 and an IPv6 /128 both name one host.
            AddressPattern::Prefix { network, len } if network.is_ipv4() => u16::from(len) + 96,
            AddressPattern::Prefix { len, .. } => u16::from(len),
        }
    }
}

impl FromStr for AddressPattern {
    type Err = AddressPatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| AddressPatternError {
            text: text.to_owned(),
            reason,
        };
        let text = text.trim();
        if let Ok(exact) = text.parse::<SocketAddr>() {
            return Ok(AddressPattern::Exact(canonical(exact)));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(AddressPattern::host(ip));
        }
        let (ip, len) = text
            .split_once('/')
            .ok_or_else(|| error("not an address"))?;
        let ip: IpAddr = ip.parse().map_err(|_| error("bad IP before `/`"))?;
        let len: u8 = len.parse().map_err(|_| error("bad prefix length"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(error("prefix longer than the address"));
        }
        // A mapped IPv4 prefix (`::ffff:a.b.c.d/len`, len ≥ 96) is the IPv4 prefix it carries.
        let (ip, len) = match ip {
            IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), len - 96),
                None => (ip, len),
            },
            _ => (ip, len),
        };
        // Both families sit at the top of the 128 bits, so the prefix mask is the same.
        if bits(ip) & !mask(len) != 0 {
            return Err(error("host bits set after the prefix"));
        }
        Ok(AddressPattern::Prefix { network: ip, len })
    }
}

impl fmt::Display for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressPattern::Exact(addr) => write!(f, "{addr}"),
            AddressPattern::Prefix { network, len } => write!(f, "{network}/{len}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> AddressPattern {
        text.parse().expect("pattern")
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    #[test]
    fn exact_pattern_matches_only_its_port() {
        let p = pattern("127.0.0.1:4433");
        assert!(p.matches(addr("127.0.0.1:4433")));
        assert!(!p.matches(addr("127.0.0.1:4434")));
        assert!(!p.matches(addr("127.0.0.2:4433")));
    }

    #[test]
    fn prefix_matches_any_port_inside_it() {
        let p = pattern("192.0.2.0/24");
        assert!(p.matches(addr("192.0.2.200:1")));
        assert!(!p.matches(addr("192.0.3.1:1")));
        let v6 = pattern("2001:db8::/32");
        assert!(v6.matches(addr("[2001:db8:1::5]:80")));
        assert!(!v6.matches(addr("[2001:db9::5]:80")));
        assert!(!v6.matches(addr("192.0.2.1:80")));
        assert!(pattern("0.0.0.0/0").matches(addr("203.0.113.9:9")));
    }

    #[test]
    fn bare_ip_is_that_host_on_every_port() {
        assert!(pattern("::1").matches(addr("[::1]:5")));
        assert!(pattern("10.1.2.3").matches(addr("10.1.2.3:65535")));
        assert!(!pattern("10.1.2.3").matches(addr("10.1.2.4:1")));
    }

    #[test]
    fn ipv4_mapped_senders_match_ipv4_patterns() {
        assert!(pattern("127.0.0.0/8").matches(addr("[::ffff:127.0.0.1]:9")));
        assert!(pattern("127.0.0.1:9").matches(addr("[::ffff:127.0.0.1]:9")));
        assert!(pattern("::ffff:10.0.0.0/104").matches(addr("10.0.0.7:1")));
    }

    #[test]
    fn exact_beats_longer_prefix_beats_shorter() {
        let exact = pattern("10.0.0.1:1").specificity();
        let host = pattern("10.0.0.1").specificity();
        let net = pattern("10.0.0.0/8").specificity();
        assert!(exact > host && host > net);
        assert_eq!(host, pattern("::1").specificity());
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in [
            "",
            "nonsense",
            "10.0.0.0/33",
            "10.0.0.1/24",
            "::/129",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<AddressPattern>().is_err(), "{bad}");
        }
    }
}
