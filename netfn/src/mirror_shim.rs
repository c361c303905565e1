//! The end-host side of the mirror: how a host sends through a mirror and reads what comes
//! back. This is the codec the client's `--via MIRROR` option, the mirror's tunnel endpoint and
//! a server accepting mirrored datagrams use; it has no socket of its own, and it lives here
//! rather than in `trickles-mirror` so that end hosts need not link the mirror.
//!
//! Sending: a host that wants `inner` to reach `destination` through the mirror sends the
//! mirror [`MirrorRoute::wrap`]`(destination, inner)`: an encapsulation header naming the
//! destination, the authentication option if the host has a key, and `inner`.
//!
//! Receiving: what the mirror delivers is an encapsulation header naming the *original
//! sender* followed by the carried datagram. [`MirrorRoute::unwrap`] accepts it only from the
//! mirror's address and returns both; the host treats the datagram as if it came from the
//! original sender, and sends its answer back with `wrap(original_sender, answer)`. A server
//! that binds the client's address into its continuations (Trickles does) therefore binds the
//! client's real address, not the mirror's.
//!
//! The mirror writes a header naming the sender, in the sender's address family; when that
//! header is longer than the one the sender wrote (an IPv6 sender reaching an IPv4
//! destination, without a tag), `wrap` pads its header so that the mirror never has to emit
//! more bytes than it received.

use std::net::SocketAddr;

use crate::canonical_addr::canonical;
use crate::encap::{field, EncapError, EncapRepr};
use crate::mirror_auth::{padding, AuthKey, AuthOption, AUTH_OPTION_LEN};

/// Why a datagram is not a valid delivery from the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShimError {
    /// It came from somewhere else (never trust a header from an arbitrary sender).
    #[error("datagram from {0}, not from the mirror")]
    NotFromMirror(SocketAddr),
    /// The encapsulation header is malformed or missing.
    #[error("bad encapsulation: {0}")]
    Malformed(#[from] EncapError),
}

/// How one host reaches others through one mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRoute {
    mirror: SocketAddr,
    key: Option<AuthKey>,
}

impl MirrorRoute {
    /// Through the mirror at `mirror`, recognised by address (no key).
    pub fn new(mirror: SocketAddr) -> Self {
        MirrorRoute {
            mirror: canonical(mirror),
            key: None,
        }
    }

    /// The same route, tagging every datagram with `key`.
    pub fn with_key(self, key: AuthKey) -> Self {
        MirrorRoute {
            key: Some(key),
            ..self
        }
    }

    /// The mirror's address: where wrapped datagrams go.
    pub fn mirror(&self) -> SocketAddr {
        self.mirror
    }

    /// Bytes [`MirrorRoute::wrap`] adds in front of a datagram for `destination`.
    pub fn overhead(&self, destination: SocketAddr) -> usize {
        let header = EncapRepr::new(canonical(destination)).header_len();
        header + self.options_len(destination)
    }

    fn options_len(&self, destination: SocketAddr) -> usize {
        let header = EncapRepr::new(canonical(destination)).header_len();
        let auth = if self.key.is_some() {
            AUTH_OPTION_LEN
        } else {
            0
        };
        // What the mirror will write: a header naming us, in the mirror's family.
        let returned = EncapRepr::new(self.mirror).header_len();
        let short = returned.saturating_sub(header + auth);
        auth + if short == 0 { 0 } else { short.max(2) }
    }

    /// Append to `out` the datagram asking the mirror to carry `inner` to `destination`;
    /// `now_secs` (seconds since the UNIX epoch) stamps the tag.
    pub fn wrap_into(
        &self,
        destination: SocketAddr,
        inner: &[u8],
        now_secs: u64,
        out: &mut Vec<u8>,
    ) {
        let destination = canonical(destination);
        let repr = EncapRepr::new(destination);
        let (head, head_len) = repr.to_bytes();
        let start = out.len();
        out.extend_from_slice(&head[..head_len]);
        if let Some(key) = &self.key {
            let auth = AuthOption::sign(key, now_secs as u32, repr.flags, destination, inner);
            out.extend_from_slice(&auth.to_bytes());
        }
        let options = self.options_len(destination);
        let written = out.len() - start - head_len;
        if let Some(pad) = padding(options - written) {
            out.extend_from_slice(&pad);
        }
        // Header plus options is at most 24 + 15 + 14 bytes: it fits the length byte.
        out[start + field::HEADER_LEN] = (out.len() - start) as u8;
        out.extend_from_slice(inner);
    }

    /// The datagram asking the mirror to carry `inner` to `destination`.
    pub fn wrap(&self, destination: SocketAddr, inner: &[u8], now_secs: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.overhead(destination) + inner.len());
        self.wrap_into(destination, inner, now_secs, &mut out);
        out
    }

    /// The original sender and the carried datagram of `datagram`, received from `from`.
    pub fn unwrap<'a>(
        &self,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<(SocketAddr, &'a [u8]), ShimError> {
        if canonical(from) != self.mirror {
            return Err(ShimError::NotFromMirror(from));
        }
        let (header, inner) = EncapRepr::parse(datagram)?;
        Ok((canonical(header.peer), inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encap::EncapPacket;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    #[test]
    fn wrapped_datagram_names_the_destination_and_carries_the_payload() {
        let route = MirrorRoute::new(addr("127.0.0.1:7000"));
        let wire = route.wrap(addr("127.0.0.1:4433"), b"hello", 0);
        let packet = EncapPacket::new_checked(&wire[..]).expect("header");
        assert_eq!(packet.peer(), addr("127.0.0.1:4433"));
        assert_eq!(packet.inner(), b"hello");
        assert!(packet.options().is_empty());
        assert_eq!(wire.len(), route.overhead(addr("127.0.0.1:4433")) + 5);
    }

    #[test]
    fn keyed_route_tags_what_the_mirror_verifies() {
        let key = AuthKey::new(4, [9; 16]);
        let route = MirrorRoute::new(addr("127.0.0.1:7000")).with_key(key.clone());
        let destination = addr("[2001:db8::1]:4433");
        let wire = route.wrap(destination, b"req", 1_000);
        let packet = EncapPacket::new_checked(&wire[..]).expect("header");
        let auth = AuthOption::find(packet.options())
            .expect("options")
            .expect("auth option");
        assert_eq!(auth.key_id, 4);
        assert!(key.verify(auth.tag, 1_000, 0, destination, b"req"));
    }

    #[test]
    fn ipv6_sender_to_ipv4_destination_pays_for_the_longer_return_header() {
        let route = MirrorRoute::new(addr("[::1]:7000"));
        let destination = addr("127.0.0.1:4433");
        let wire = route.wrap(destination, b"x", 0);
        // The mirror will write a 24-byte IPv6 header naming us; ours must be at least that.
        let packet = EncapPacket::new_checked(&wire[..]).expect("header");
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.inner(), b"x");
        assert_eq!(AuthOption::find(packet.options()), Ok(None));
    }

    #[test]
    fn only_the_mirror_may_deliver() {
        let route = MirrorRoute::new(addr("127.0.0.1:7000"));
        let delivery = EncapRepr::new(addr("192.0.2.9:4433")).encapsulate(b"data");
        assert_eq!(
            route.unwrap(addr("127.0.0.1:7000"), &delivery),
            Ok((addr("192.0.2.9:4433"), &b"data"[..]))
        );
        assert_eq!(
            route.unwrap(addr("127.0.0.1:7001"), &delivery),
            Err(ShimError::NotFromMirror(addr("127.0.0.1:7001")))
        );
        assert!(matches!(
            route.unwrap(addr("127.0.0.1:7000"), b"\x01\x02plain"),
            Err(ShimError::Malformed(_))
        ));
    }
}
