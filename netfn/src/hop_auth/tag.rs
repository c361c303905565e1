//! The hop tag: what exactly it covers, how a sender writes it and a receiver checks it.
//!
//! The tag travels in the mirror's auth option ([`AuthOption`], type `0x4D`: key id, timestamp,
//! tag), appended after the other options of the encapsulation header. Its value is
//! SipHash-2-4, keyed with the pool key's secret, over these bytes (big-endian numbers):
//!
//! ```text
//! "hop1"        4  domain: a mirror tag (same option, other input) is never a hop tag
//! direction     1  1 = balancer → replica, 2 = replica → balancer (a reply cannot be replayed
//!                  as a request, nor the other way)
//! key id        1
//! timestamp     4  seconds since the UNIX epoch (the option's)
//! flags         1  the header's flags (DIRECT_RETURN)
//! peer          3+n  family (4|6), port, address (4|16): the client, as the header names it
//! balancer      3+n  the balancer's address, the VIP it serves (source of its datagrams to the
//!                    replica, destination of the replies), IPv4-mapped IPv6 written as IPv4
//! via           1 | 3+n  0 when the header has no VIA option, else family, port, address
//! ```
//!
//! The carried datagram is not covered: a Trickles datagram authenticates itself (continuations
//! are MAC'ed with the client's address), and a header replayed with other bytes behind it
//! makes the replica answer the same client through the same balancer, which the client's own
//! spoofed datagram to the VIP could do anyway. Hashing only the header keeps the cost per
//! datagram constant (two SipHash compressions of ~60 bytes).

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use super::key_file::PoolKey;
use crate::canonical_addr::canonical;
use crate::encap::{field, EncapPacket, EncapRepr, MAX_HEADER_LEN};
use crate::mirror_auth::{AuthOption, AUTH_OPTION_LEN};

/// Seconds a tag's timestamp may differ from the receiver's clock (either side): the life of a
/// captured header, and the clock skew a pool tolerates.
pub const MAX_SKEW_SECS: u64 = 30;
/// Longest tagged header (IPv6 peer, IPv6 VIA, auth option): callers size buffers with it.
pub const TAGGED_HEADER_MAX: usize = MAX_HEADER_LEN + AUTH_OPTION_LEN;
/// The domain separator that starts the tag input.
pub const DOMAIN: [u8; 4] = *b"hop1";
/// Longest tag input: domain, direction, id, timestamp, flags, three IPv6 endpoints.
const INPUT_MAX: usize = 4 + 1 + 1 + 4 + 1 + 3 * 19;

/// Which way a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A client datagram the balancer forwards to a replica.
    ToReplica = 1,
    /// A reply the replica sends back through the balancer (relay mode).
    ToBalancer = 2,
}

/// Why a header's tag is refused (the `reason` label of the drop counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HopRefusal {
    /// A pool key is configured and the header has no auth option.
    MissingTag,
    /// The option's key id, or the tag, is not the pool key's.
    BadTag,
    /// The tag is right but its timestamp is more than [`MAX_SKEW_SECS`] from now.
    StaleTag,
}

impl HopRefusal {
    /// Every refusal (to pre-create metric series).
    pub const ALL: [HopRefusal; 3] = [
        HopRefusal::MissingTag,
        HopRefusal::BadTag,
        HopRefusal::StaleTag,
    ];

    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            HopRefusal::MissingTag => "missing_tag",
            HopRefusal::BadTag => "bad_tag",
            HopRefusal::StaleTag => "stale_tag",
        }
    }
}

/// What a hop tag covers besides the key id and the timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopTag {
    /// Which way the datagram goes.
    pub direction: Direction,
    /// The header's flags.
    pub flags: u8,
    /// The header's peer (the client).
    pub peer: SocketAddr,
    /// The balancer's address (the VIP).
    pub balancer: SocketAddr,
    /// The header's VIA relay.
    pub via: Option<SocketAddr>,
}

fn put_endpoint(out: &mut [u8; INPUT_MAX], at: &mut usize, address: SocketAddr) {
    let mut put = |bytes: &[u8]| {
        out[*at..*at + bytes.len()].copy_from_slice(bytes);
        *at += bytes.len();
    };
    match address.ip() {
        IpAddr::V4(ip) => {
            put(&[4]);
            put(&address.port().to_be_bytes());
            put(&ip.octets());
        }
        IpAddr::V6(ip) => {
            put(&[6]);
            put(&address.port().to_be_bytes());
            put(&ip.octets());
        }
    }
}

impl HopTag {
    /// The tag's input bytes (the table in the module documentation).
    pub fn input(&self, key_id: u8, timestamp: u32) -> Vec<u8> {
        let (bytes, len) = self.input_array(key_id, timestamp);
        bytes[..len].to_vec()
    }

    fn input_array(&self, key_id: u8, timestamp: u32) -> ([u8; INPUT_MAX], usize) {
        let mut out = [0u8; INPUT_MAX];
        out[..4].copy_from_slice(&DOMAIN);
        out[4] = self.direction as u8;
        out[5] = key_id;
        out[6..10].copy_from_slice(&timestamp.to_be_bytes());
        out[10] = self.flags;
        let mut at = 11;
        put_endpoint(&mut out, &mut at, self.peer);
        put_endpoint(&mut out, &mut at, canonical(self.balancer));
        match self.via {
            None => {
                out[at] = 0;
                at += 1;
            }
            Some(via) => put_endpoint(&mut out, &mut at, via),
        }
        (out, at)
    }

    /// The tag `key` computes at `timestamp`.
    pub fn compute(&self, key: &PoolKey, timestamp: u32) -> u64 {
        let (k0, k1) = key.0.sip_keys();
        let (input, len) = self.input_array(key.id(), timestamp);
        let mut hasher = SipHasher24::new_with_keys(k0, k1);
        hasher.write(&input[..len]);
        hasher.finish()
    }

    /// The auth option carrying the tag.
    pub fn option(&self, key: &PoolKey, timestamp: u32) -> AuthOption {
        AuthOption {
            key_id: key.id(),
            timestamp,
            tag: self.compute(key, timestamp),
        }
    }
}

/// Write `repr`, its VIA option and the hop tag's auth option into the start of `out`; returns
/// the header length (`None` when `out` is shorter than the header).
pub fn sign_header(
    repr: &EncapRepr,
    via: Option<SocketAddr>,
    balancer: SocketAddr,
    direction: Direction,
    key: &PoolKey,
    timestamp: u32,
    out: &mut [u8],
) -> Option<usize> {
    let base = repr.emit_via(via, out)?;
    let tag = HopTag {
        direction,
        flags: repr.flags,
        peer: repr.peer,
        balancer,
        via,
    };
    let option = tag.option(key, timestamp).to_bytes();
    out.get_mut(base..base + AUTH_OPTION_LEN)?
        .copy_from_slice(&option);
    let total = base + AUTH_OPTION_LEN;
    // At most 44 + 15 bytes: fits the byte.
    out[field::HEADER_LEN] = total as u8;
    Some(total)
}

/// Check the hop tag of a received header (already parsed into `repr` and `via`) against `key`
/// at `now_secs` (UNIX seconds).
pub fn check<T: AsRef<[u8]>>(
    packet: &EncapPacket<T>,
    repr: &EncapRepr,
    via: Option<SocketAddr>,
    balancer: SocketAddr,
    direction: Direction,
    key: &PoolKey,
    now_secs: u64,
) -> Result<(), HopRefusal> {
    let option = match AuthOption::find(packet.options()) {
        Ok(Some(option)) => option,
        Ok(None) => return Err(HopRefusal::MissingTag),
        Err(_) => return Err(HopRefusal::BadTag),
    };
    if option.key_id != key.id() {
        return Err(HopRefusal::BadTag);
    }
    let tag = HopTag {
        direction,
        flags: repr.flags,
        peer: repr.peer,
        balancer,
        via,
    };
    // XOR-and-compare does not stop at the first differing byte.
    if tag.compute(key, option.timestamp) ^ option.tag != 0 {
        return Err(HopRefusal::BadTag);
    }
    if !timestamp_fresh(option.timestamp, now_secs) {
        return Err(HopRefusal::StaleTag);
    }
    Ok(())
}

/// Whether `timestamp` is within [`MAX_SKEW_SECS`] of `now_secs`, modulo 2^32.
fn timestamp_fresh(timestamp: u32, now_secs: u64) -> bool {
    let now = now_secs as u32;
    let distance = now.wrapping_sub(timestamp).min(timestamp.wrapping_sub(now));
    u64::from(distance) <= MAX_SKEW_SECS
}

/// Seconds since the UNIX epoch (the timestamp senders write).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encap::FLAG_DIRECT_RETURN;
    use crate::mirror_auth::AuthKey;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn key() -> PoolKey {
        PoolKey(AuthKey::from_hex(1, "000102030405060708090a0b0c0d0e0f").expect("key"))
    }

    const NOW: u64 = 1_764_806_400;
    const BALANCER: &str = "198.18.0.1:4433";

    fn signed(repr: EncapRepr, via: Option<SocketAddr>, direction: Direction) -> Vec<u8> {
        let mut out = [0u8; TAGGED_HEADER_MAX + 2];
        let len = sign_header(
            &repr,
            via,
            addr(BALANCER),
            direction,
            &key(),
            NOW as u32,
            &mut out,
        )
        .expect("fits");
        out[len..len + 2].copy_from_slice(b"ok");
        out[..len + 2].to_vec()
    }

    fn checked(
        wire: &[u8],
        balancer: &str,
        direction: Direction,
        now: u64,
    ) -> Result<(), HopRefusal> {
        let packet = EncapPacket::new_checked(wire).expect("header");
        let (repr, via, _) = EncapRepr::parse_with_via(wire).expect("parse");
        check(&packet, &repr, via, addr(balancer), direction, &key(), now)
    }

    #[test]
    fn the_tag_input_is_byte_exact() {
        let tag = HopTag {
            direction: Direction::ToReplica,
            flags: FLAG_DIRECT_RETURN,
            peer: addr("198.18.0.7:40001"),
            balancer: addr("[::ffff:198.18.0.1]:4433"),
            via: Some(addr("198.18.0.9:7000")),
        };
        assert_eq!(
            hex::encode(tag.input(1, 0x6930_ED00)),
            "686f703101016930ed0001049c41c6120007041151c6120001041b58c6120009"
        );
        assert_eq!(
            format!("{:016x}", tag.compute(&key(), 0x6930_ED00)),
            TAG_EXAMPLE
        );
    }

    /// The tag of `the_tag_input_is_byte_exact` (also in docs/NETWORK-FUNCTIONS.md §2.2).
    const TAG_EXAMPLE: &str = "03e3cb1d6be272d1";

    #[test]
    fn a_signed_header_verifies_in_both_families_and_directions() {
        for peer in ["198.18.0.7:40001", "[2001:2::7]:40001"] {
            for via in [None, Some(addr("[2001:2::9]:7000"))] {
                for direction in [Direction::ToReplica, Direction::ToBalancer] {
                    let wire = signed(EncapRepr::new(addr(peer)), via, direction);
                    assert_eq!(checked(&wire, BALANCER, direction, NOW), Ok(()));
                    let (repr, found, inner) = EncapRepr::parse_with_via(&wire).expect("parse");
                    assert_eq!((repr.peer, found, inner), (addr(peer), via, &b"ok"[..]));
                }
            }
        }
    }

    #[test]
    fn an_unsigned_header_is_missing_its_tag() {
        let wire = EncapRepr::new(addr("198.18.0.7:40001")).encapsulate(b"ok");
        assert_eq!(
            checked(&wire, BALANCER, Direction::ToReplica, NOW),
            Err(HopRefusal::MissingTag)
        );
    }

    #[test]
    fn every_covered_field_changes_the_tag() {
        let repr = EncapRepr::new(addr("198.18.0.7:40001"));
        let wire = signed(repr, None, Direction::ToReplica);
        // Another balancer address, the other direction.
        assert_eq!(
            checked(&wire, "198.18.0.2:4433", Direction::ToReplica, NOW),
            Err(HopRefusal::BadTag)
        );
        assert_eq!(
            checked(&wire, BALANCER, Direction::ToBalancer, NOW),
            Err(HopRefusal::BadTag)
        );
        // A flipped DIRECT_RETURN flag, an altered client port.
        let mut flipped = wire.clone();
        flipped[field::FLAGS] ^= FLAG_DIRECT_RETURN;
        assert_eq!(
            checked(&flipped, BALANCER, Direction::ToReplica, NOW),
            Err(HopRefusal::BadTag)
        );
        let mut port = wire.clone();
        port[field::PORT.start] ^= 1;
        assert_eq!(
            checked(&port, BALANCER, Direction::ToReplica, NOW),
            Err(HopRefusal::BadTag)
        );
        // A VIA option the balancer did not write.
        let via = signed(repr, Some(addr("198.18.0.9:7000")), Direction::ToReplica);
        let mut spliced = via.clone();
        let tag_at = spliced.len() - 2 - AUTH_OPTION_LEN;
        let plain_tag_at = wire.len() - 2 - AUTH_OPTION_LEN;
        spliced[tag_at..tag_at + AUTH_OPTION_LEN]
            .copy_from_slice(&wire[plain_tag_at..plain_tag_at + AUTH_OPTION_LEN]);
        assert_eq!(
            checked(&spliced, BALANCER, Direction::ToReplica, NOW),
            Err(HopRefusal::BadTag)
        );
        // Another key id.
        let mut id = wire.clone();
        id[plain_tag_at + 2] = 9;
        assert_eq!(
            checked(&id, BALANCER, Direction::ToReplica, NOW),
            Err(HopRefusal::BadTag)
        );
    }

    #[test]
    fn a_captured_header_expires() {
        let wire = signed(
            EncapRepr::new(addr("198.18.0.7:40001")),
            None,
            Direction::ToReplica,
        );
        let at = |now| checked(&wire, BALANCER, Direction::ToReplica, now);
        assert_eq!(at(NOW + MAX_SKEW_SECS), Ok(()));
        assert_eq!(at(NOW - MAX_SKEW_SECS), Ok(()));
        assert_eq!(at(NOW + MAX_SKEW_SECS + 1), Err(HopRefusal::StaleTag));
    }

    #[test]
    fn the_balancer_address_is_compared_as_relays_compare_it() {
        let wire = signed(
            EncapRepr::new(addr("198.18.0.7:40001")),
            None,
            Direction::ToReplica,
        );
        assert_eq!(
            checked(&wire, "[::ffff:198.18.0.1]:4433", Direction::ToReplica, NOW),
            Ok(())
        );
    }

    /// The spaced hex of `bytes`, as the specification writes it.
    fn spaced(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_specifications_example_is_what_the_code_computes() {
        let spec = include_str!("../../../docs/NETWORK-FUNCTIONS.md");
        let tag = HopTag {
            direction: Direction::ToReplica,
            flags: FLAG_DIRECT_RETURN,
            peer: addr("198.18.0.7:40001"),
            balancer: addr("198.18.0.1:4433"),
            via: Some(addr("198.18.0.9:7000")),
        };
        let input = spaced(&tag.input(1, 0x6930_ED00));
        let mut header = [0u8; TAGGED_HEADER_MAX];
        let repr = EncapRepr {
            peer: tag.peer,
            flags: tag.flags,
        };
        let len = sign_header(
            &repr,
            tag.via,
            tag.balancer,
            Direction::ToReplica,
            &key(),
            0x6930_ED00,
            &mut header,
        )
        .expect("fits");
        let header = spaced(&header[..len]);
        for (what, hex) in [("tag input", &input), ("tagged header", &header)] {
            let lines: Vec<&str> = hex
                .as_bytes()
                .chunks(48)
                .map(|c| std::str::from_utf8(c).expect("ascii").trim())
                .collect();
            for line in &lines {
                assert!(
                    spec.contains(line),
                    "NETWORK-FUNCTIONS.md §2.4 lacks the {what} line `{line}`"
                );
            }
        }
    }
}
