//! The encapsulation header: a datagram carried on behalf of a *peer*, with the peer's address.
//!
//! A network function that relays Trickles datagrams hides the original sender from the next hop:
//! a replica behind a relaying balancer sees the balancer's address, not the client's. But the
//! replica must know the client's address (the continuation's MAC binds it, and the reply must
//! reach it), so the relay prepends this header. The same header goes back the other way: the
//! replica prepends it to its reply, naming the client as the peer, and the balancer forwards the
//! inner datagram there without any table. The mirror uses it the same way between a host and
//! the mirror. `docs/NETWORK-FUNCTIONS.md` §2 is the byte-level specification.
//!
//! ```text
//!  0      1      2      3      4      5      6             8
//! +------+------+------+------+------+------+-------------+------------------------+---------+-------
//! | 0xEC | 0x54 | ver  |family|flags |hdrlen| peer port   | peer IP (4 or 16)      | ext ... | inner
//! +------+------+------+------+------+------+-------------+------------------------+---------+-------
//! ```
//!
//! - `magic` `0xEC 0x54`: a Trickles datagram starts with its version byte (1), so the first
//!   byte alone tells the two apart; the second makes an accidental match on other traffic rarer.
//! - `version` 1. A receiver drops a header of another version.
//! - `family` 4 (IPv4) or 6 (IPv6): the size of the peer IP.
//! - `flags`: bit 0 [`FLAG_DIRECT_RETURN`] asks a replica to answer the peer directly (DSR);
//!   other bits are sent as 0 and ignored on receipt.
//! - `hdrlen`: total header length in bytes, so options (`ext`, TLVs: type u8, length u8,
//!   value) can be added without a new version; receivers skip types they do not know. This
//!   crate defines VIA ([`OPTION_VIA`], the relay a reply goes back through:
//!   [`EncapRepr::emit_via`], [`EncapRepr::parse_with_via`]); the mirror defines its own.
//!   It is at least 12 (IPv4) or 24 (IPv6).
//! - `peer port` and `peer IP` in network byte order (IPv6 flow info and scope are not carried).
//!
//! The header is a zero-copy view ([`EncapPacket`]) plus a value ([`EncapRepr`]) that parses
//! from and emits into a buffer, in the style of smoltcp. Everything input-derived is checked:
//! malformed headers are an `Err`, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The two magic bytes that start every encapsulated datagram.
pub const MAGIC: [u8; 2] = [0xEC, 0x54];
/// The header version this crate speaks.
pub const VERSION: u8 = 1;
/// `family` value of an IPv4 peer.
pub const FAMILY_IPV4: u8 = 4;
/// `family` value of an IPv6 peer.
pub const FAMILY_IPV6: u8 = 6;
/// Flag: the replica should answer the peer directly (direct server return) instead of sending
/// the reply back encapsulated to whoever sent it.
pub const FLAG_DIRECT_RETURN: u8 = 0x01;
/// Header length with an IPv4 peer and no options.
pub const HEADER_LEN_V4: usize = 12;
/// Header length with an IPv6 peer and no options.
pub const HEADER_LEN_V6: usize = 24;
/// Option type VIA: the relay in front of the balancer (a mirror) that the reply must go back
/// through; value = port (2) and IPv4 (4) or IPv6 (16) address. See [`EncapRepr::emit_via`].
pub const OPTION_VIA: u8 = 0x56;
/// Longest VIA option (type, length, port, IPv6 address).
pub const VIA_OPTION_MAX_LEN: usize = 2 + 2 + 16;
/// Longest header this crate writes (IPv6 peer and an IPv6 VIA option): callers size buffers
/// with it.
pub const MAX_HEADER_LEN: usize = HEADER_LEN_V6 + VIA_OPTION_MAX_LEN;

/// Byte offsets of the fields (one place, so a C/XDP datapath can mirror them).
pub mod field {
    /// The magic bytes.
    pub const MAGIC: core::ops::Range<usize> = 0..2;
    /// Header version.
    pub const VERSION: usize = 2;
    /// Address family of the peer (4 or 6).
    pub const FAMILY: usize = 3;
    /// Flags.
    pub const FLAGS: usize = 4;
    /// Total header length.
    pub const HEADER_LEN: usize = 5;
    /// Peer UDP port.
    pub const PORT: core::ops::Range<usize> = 6..8;
    /// Start of the peer IP address.
    pub const ADDRESS: usize = 8;
}

/// Why bytes are not a valid encapsulation header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// Does not start with [`MAGIC`]: not encapsulated at all.
    #[error("not encapsulated (no magic)")]
    NotEncapsulated,
    /// A header version this crate does not speak.
    #[error("unsupported encapsulation version {0}")]
    Version(u8),
    /// A family other than 4 or 6.
    #[error("unknown address family {0}")]
    Family(u8),
    /// The options are not a well-formed TLV sequence, or a VIA option has a bad length.
    #[error("malformed header options")]
    Options,
    /// `hdrlen` is shorter than the fixed fields of its family.
    #[error("header length {0} too short")]
    HeaderLen(u8),
    /// The datagram ends before the header does.
    #[error("truncated encapsulation header")]
    Truncated,
}

/// True when `datagram` starts with the encapsulation magic (a cheap first test on the packet
/// path; [`EncapPacket::new_checked`] does the full check).
pub fn is_encapsulated(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[field::MAGIC] == MAGIC
}

/// A checked, zero-copy view of an encapsulated datagram.
#[derive(Clone, Copy, Debug)]
pub struct EncapPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EncapPacket<T> {
    /// Check magic, version, family and lengths; the getters cannot fail afterwards.
    pub fn new_checked(buffer: T) -> Result<Self, EncapError> {
        let bytes = buffer.as_ref();
        if !is_encapsulated(bytes) {
            return Err(EncapError::NotEncapsulated);
        }
        if bytes.len() < HEADER_LEN_V4 {
            return Err(EncapError::Truncated);
        }
        if bytes[field::VERSION] != VERSION {
            return Err(EncapError::Version(bytes[field::VERSION]));
        }
        let minimum = match bytes[field::FAMILY] {
            FAMILY_IPV4 => HEADER_LEN_V4,
            FAMILY_IPV6 => HEADER_LEN_V6,
            other => return Err(EncapError::Family(other)),
        };
        let header_len = bytes[field::HEADER_LEN];
        if usize::from(header_len) < minimum {
            return Err(EncapError::HeaderLen(header_len));
        }
        if bytes.len() < usize::from(header_len) {
            return Err(EncapError::Truncated);
        }
        Ok(EncapPacket { buffer })
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Total header length (where the inner datagram starts).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::HEADER_LEN])
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        let bytes = self.buffer.as_ref();
        let port = u16::from_be_bytes([bytes[field::PORT.start], bytes[field::PORT.start + 1]]);
        let at = field::ADDRESS;
        let ip = if bytes[field::FAMILY] == FAMILY_IPV4 {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(&bytes[at..at + 4]);
            IpAddr::V4(Ipv4Addr::from(octets))
        } else {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        SocketAddr::new(ip, port)
    }

    /// The option bytes between the address and the end of the header (empty in version 1).
    pub fn options(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        let fixed = if bytes[field::FAMILY] == FAMILY_IPV4 {
            HEADER_LEN_V4
        } else {
            HEADER_LEN_V6
        };
        &bytes[fixed..self.header_len()]
    }

    /// The carried datagram.
    pub fn inner(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// The meaning of a header: the peer and the flags. Options are not part of it: the VIA option
/// has its own methods ([`EncapRepr::emit_via`], [`EncapRepr::parse_with_via`]), others are
/// read from [`EncapPacket::options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapRepr {
    /// The far end of the carried flow: the client a balancer relays for.
    pub peer: SocketAddr,
    /// Flags ([`FLAG_DIRECT_RETURN`]).
    pub flags: u8,
}

impl EncapRepr {
    /// A header naming `peer`, no flags.
    pub fn new(peer: SocketAddr) -> Self {
        EncapRepr { peer, flags: 0 }
    }

    /// Parse a datagram: the header's meaning and the inner datagram.
    pub fn parse(datagram: &[u8]) -> Result<(EncapRepr, &[u8]), EncapError> {
        let packet = EncapPacket::new_checked(datagram)?;
        let repr = EncapRepr {
            peer: packet.peer(),
            flags: packet.flags(),
        };
        Ok((repr, &datagram[packet.header_len()..]))
    }

    /// True when the replica is asked to answer the peer directly.
    pub fn direct_return(&self) -> bool {
        self.flags & FLAG_DIRECT_RETURN != 0
    }

    /// Parse a datagram whose header may carry a VIA option: the header's meaning, the VIA
    /// address if present, and the inner datagram.
    pub fn parse_with_via(
        datagram: &[u8],
    ) -> Result<(EncapRepr, Option<SocketAddr>, &[u8]), EncapError> {
        let packet = EncapPacket::new_checked(datagram)?;
        let via = find_via(packet.options())?;
        let repr = EncapRepr {
            peer: packet.peer(),
            flags: packet.flags(),
        };
        Ok((repr, via, &datagram[packet.header_len()..]))
    }

    /// Write the header followed by a VIA option naming `via` (nothing when `None`) into the
    /// start of `out`; returns the header length (`None` when `out` is too short).
    pub fn emit_via(&self, via: Option<SocketAddr>, out: &mut [u8]) -> Option<usize> {
        let base = self.emit(out)?;
        let Some(via) = via else {
            return Some(base);
        };
        let value_len = match via {
            SocketAddr::V4(_) => 6,
            SocketAddr::V6(_) => 18,
        };
        let option = out.get_mut(base..base + 2 + value_len)?;
        option[0] = OPTION_VIA;
        option[1] = value_len as u8;
        option[2..4].copy_from_slice(&via.port().to_be_bytes());
        match via.ip() {
            IpAddr::V4(ip) => option[4..8].copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => option[4..20].copy_from_slice(&ip.octets()),
        }
        let total = base + 2 + value_len;
        // At most 24 + 20 bytes: fits the byte.
        out[field::HEADER_LEN] = total as u8;
        Some(total)
    }

    /// Length of the header [`EncapRepr::emit`] writes.
    pub fn header_len(&self) -> usize {
        match self.peer {
            SocketAddr::V4(_) => HEADER_LEN_V4,
            SocketAddr::V6(_) => HEADER_LEN_V6,
        }
    }

    /// Write the header into the start of `out` and return its length; `None` when `out` is
    /// shorter than [`EncapRepr::header_len`].
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.header_len();
        let header = out.get_mut(..len)?;
        header[field::MAGIC].copy_from_slice(&MAGIC);
        header[field::VERSION] = VERSION;
        header[field::FLAGS] = self.flags;
        // `len` is 12 or 24: it fits the byte.
        header[field::HEADER_LEN] = len as u8;
        header[field::PORT].copy_from_slice(&self.peer.port().to_be_bytes());
        match self.peer.ip() {
            IpAddr::V4(ip) => {
                header[field::FAMILY] = FAMILY_IPV4;
                header[field::ADDRESS..field::ADDRESS + 4].copy_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                header[field::FAMILY] = FAMILY_IPV6;
                header[field::ADDRESS..field::ADDRESS + 16].copy_from_slice(&ip.octets());
            }
        }
        Some(len)
    }

    /// The header as a small array and its length (for a two-part send without copying the
    /// inner datagram).
    pub fn to_bytes(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        // MAX_HEADER_LEN is the longest header: emit cannot fail.
        let len = self.emit(&mut bytes).unwrap_or(0);
        (bytes, len)
    }

    /// Header followed by `inner`, in a new vector.
    pub fn encapsulate(&self, inner: &[u8]) -> Vec<u8> {
        let (header, len) = self.to_bytes();
        let mut out = Vec::with_capacity(len + inner.len());
        out.extend_from_slice(&header[..len]);
        out.extend_from_slice(inner);
        out
    }
}

/// The first VIA option among a header's options (other types are skipped).
pub fn find_via(options: &[u8]) -> Result<Option<SocketAddr>, EncapError> {
    let mut rest = options;
    while !rest.is_empty() {
        let [kind, len, tail @ ..] = rest else {
            return Err(EncapError::Options);
        };
        let value = tail.get(..usize::from(*len)).ok_or(EncapError::Options)?;
        if *kind == OPTION_VIA {
            let port = match value {
                [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                _ => return Err(EncapError::Options),
            };
            let ip = match value.len() {
                6 => {
                    let mut octets = [0u8; 4];
                    octets.copy_from_slice(&value[2..6]);
                    IpAddr::V4(Ipv4Addr::from(octets))
                }
                18 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&value[2..18]);
                    IpAddr::V6(Ipv6Addr::from(octets))
                }
                _ => return Err(EncapError::Options),
            };
            return Ok(Some(SocketAddr::new(ip, port)));
        }
        rest = &tail[value.len()..];
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> SocketAddr {
        "192.0.2.7:40001".parse().expect("addr")
    }

    fn v6() -> SocketAddr {
        "[2001:db8::1]:443".parse().expect("addr")
    }

    #[test]
    fn ipv4_header_is_byte_exact() {
        let bytes = EncapRepr::new(v4()).encapsulate(&[1, 2]);
        assert_eq!(
            bytes,
            [0xEC, 0x54, 1, 4, 0, 12, 0x9C, 0x41, 192, 0, 2, 7, 1, 2]
        );
    }

    #[test]
    fn both_families_round_trip_with_flags() {
        for peer in [v4(), v6()] {
            let repr = EncapRepr {
                peer,
                flags: FLAG_DIRECT_RETURN,
            };
            let bytes = repr.encapsulate(b"inner datagram");
            let (parsed, inner) = EncapRepr::parse(&bytes).expect("parse");
            assert_eq!(parsed, repr);
            assert!(parsed.direct_return());
            assert_eq!(inner, b"inner datagram");
            assert_eq!(bytes.len(), repr.header_len() + inner.len());
        }
    }

    #[test]
    fn trickles_datagram_is_not_encapsulated() {
        // Version 1, type HELLO, connection id.
        let trickles = [1u8, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0];
        assert!(!is_encapsulated(&trickles));
        assert_eq!(
            EncapRepr::parse(&trickles),
            Err(EncapError::NotEncapsulated)
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        let good = EncapRepr::new(v6()).encapsulate(b"x");
        let mut version = good.clone();
        version[2] = 2;
        assert_eq!(EncapRepr::parse(&version), Err(EncapError::Version(2)));
        let mut family = good.clone();
        family[3] = 5;
        assert_eq!(EncapRepr::parse(&family), Err(EncapError::Family(5)));
        let mut short_len = good.clone();
        short_len[5] = 12; // IPv6 needs 24
        assert_eq!(EncapRepr::parse(&short_len), Err(EncapError::HeaderLen(12)));
        let mut long_len = good.clone();
        long_len[5] = 200;
        assert_eq!(EncapRepr::parse(&long_len), Err(EncapError::Truncated));
        for cut in 0..HEADER_LEN_V6 {
            assert!(EncapRepr::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn options_are_skipped() {
        let mut bytes = EncapRepr::new(v4()).encapsulate(&[]);
        bytes[5] = 16;
        bytes.extend_from_slice(&[9, 2, 0xAA, 0xBB, 7, 7]);
        let packet = EncapPacket::new_checked(&bytes[..]).expect("parse");
        assert_eq!(packet.options(), &[9, 2, 0xAA, 0xBB]);
        assert_eq!(packet.inner(), &[7, 7]);
        assert_eq!(packet.peer(), v4());
    }

    #[test]
    fn via_option_round_trips_for_both_families() {
        for via in [v4(), v6()] {
            let mut buf = [0u8; MAX_HEADER_LEN + 3];
            let len = EncapRepr::new(v6())
                .emit_via(Some(via), &mut buf)
                .expect("fits");
            buf[len..len + 3].copy_from_slice(b"abc");
            let (repr, found, inner) = EncapRepr::parse_with_via(&buf[..len + 3]).expect("parse");
            assert_eq!((repr.peer, found, inner), (v6(), Some(via), &b"abc"[..]));
            // A receiver that does not know VIA still finds the peer and the inner datagram.
            let (plain, inner) = EncapRepr::parse(&buf[..len + 3]).expect("parse");
            assert_eq!((plain.peer, inner), (v6(), &b"abc"[..]));
        }
        let mut buf = [0u8; MAX_HEADER_LEN];
        let len = EncapRepr::new(v4()).emit_via(None, &mut buf).expect("fits");
        assert_eq!(len, HEADER_LEN_V4);
        assert_eq!(
            EncapRepr::parse_with_via(&buf[..len]).expect("parse").1,
            None
        );
    }

    #[test]
    fn via_is_found_after_other_options_and_bad_tlvs_are_errors() {
        let mut options = vec![0x4E, 2, 0, 0, OPTION_VIA, 6, 0x9C, 0x41, 192, 0, 2, 7];
        assert_eq!(find_via(&options), Ok(Some(v4())));
        options[5] = 5;
        assert_eq!(find_via(&options), Err(EncapError::Options));
        assert_eq!(find_via(&[0x4E, 9, 0]), Err(EncapError::Options));
        assert_eq!(find_via(&[0x4E]), Err(EncapError::Options));
        assert_eq!(find_via(&[]), Ok(None));
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let mut small = [0u8; 11];
        assert_eq!(EncapRepr::new(v4()).emit(&mut small), None);
    }
}
