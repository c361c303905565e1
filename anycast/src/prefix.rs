//! [`Prefix`]: an IP prefix (`198.18.0.10/32`, `2001:2::10/128`) as the configuration names the
//! service addresses BIRD announces. Parsing checks the length against the family and that no
//! host bit is set, so a typo is refused at its line instead of announced.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address family, as the configuration spells it (`ipv4`, `ipv6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// `ipv4` or `ipv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// Bits in an address.
    pub fn bits(self) -> u8 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }
}

/// An IP prefix with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Prefix {
    /// Its family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, len) = text
            .split_once('/')
            .ok_or_else(|| format!("prefix `{text}`: write ADDRESS/LENGTH, e.g. 198.18.0.10/32"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("prefix `{text}`: `{addr}` is not an IP address"))?;
        let family = Family::of(addr);
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= family.bits())
            .ok_or_else(|| {
                format!(
                    "prefix `{text}`: length must be 0..={} for {}",
                    family.bits(),
                    family.name()
                )
            })?;
        let bits = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
            IpAddr::V6(a) => u128::from(a),
        };
        let host_mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        if bits & host_mask != 0 {
            return Err(format!("prefix `{text}` has host bits set"));
        }
        Ok(Prefix { addr, len })
    }
}

impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Prefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP prefix such as 198.18.0.10/32")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Prefix, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefixes_of_both_families_parse() {
        let v4: Prefix = "198.18.0.10/32".parse().expect("v4");
        assert_eq!(v4.family(), Family::Ipv4);
        let v6: Prefix = "2001:2::10/128".parse().expect("v6");
        assert_eq!(
            (v6.family(), v6.to_string().as_str()),
            (Family::Ipv6, "2001:2::10/128")
        );
        assert_eq!("198.18.0.0/15".parse::<Prefix>().expect("net").len, 15);
    }

    #[test]
    fn a_length_beyond_the_family_or_host_bits_are_refused() {
        assert!("198.18.0.10/33".parse::<Prefix>().is_err());
        assert!("198.18.0.10/24"
            .parse::<Prefix>()
            .unwrap_err()
            .contains("host bits"));
        assert!("2001:2::10".parse::<Prefix>().is_err());
        assert!("2001:2::1/129".parse::<Prefix>().is_err());
    }
}
