//! Datagrams relayed by a `trickles-balancer`: the replica's side of the encapsulation header
//! (`docs/NETWORK-FUNCTIONS.md` §2, §3.1).
//!
//! A balancer in relay mode sends `header(peer = client) ‖ datagram`. The header is believed
//! **only from a configured balancer address** (`balancers:` / `--balancer`): from anyone
//! else an encapsulated datagram is dropped (`untrusted_encap`), since believing it would let
//! anyone have a continuation MAC'ed for a forged client address. For a trusted one the peer is
//! the datagram's source — the continuation binds the client's address, so every replica behind
//! the balancer verifies it — and the replies go back encapsulated to the balancer, which
//! forwards them to the client; or, when the balancer set DIRECT_RETURN, straight to the client
//! (from the VIP when one is configured: [`super::direct_return`]).
//! A plain datagram (no header) is served as always, whoever sends it (health probes, clients
//! that reach the replica directly).
//!
//! When the balancer itself sits behind a relay (a packet mirror), its header carries a VIA
//! option naming that relay; the replica copies it into its replies so the balancer knows to
//! send them back through the relay (and in direct return, the replica sends them to the
//! relay itself, encapsulated, instead of to the client).

use std::net::SocketAddr;

use trickles::Transmit;
use trickles_netfn::encap::{EncapError, EncapRepr, MAX_HEADER_LEN};

/// Drop reason: an encapsulated datagram from an address that is not a configured balancer.
pub const UNTRUSTED_ENCAP: &str = "untrusted_encap";
/// Drop reason: a configured balancer sent a malformed encapsulation header.
pub const MALFORMED_ENCAP: &str = "malformed_encap";

/// Where the replies to a datagram go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyRoute {
    /// To the core's destination (the client), as sent: a datagram that came without a header.
    Direct,
    /// To the client, as sent, at a trusted balancer's request (DIRECT_RETURN): from the VIP
    /// when one is configured ([`super::direct_return`]).
    DirectReturn,
    /// Encapsulated (naming the client, and the VIA relay if any) to this balancer.
    Relay {
        /// The balancer that sent the datagram.
        balancer: SocketAddr,
        /// The relay in front of the balancer, echoed in the reply's header.
        via: Option<SocketAddr>,
    },
    /// Direct return through the relay in front of the balancer: encapsulated (naming the
    /// client) to that relay.
    Upstream(SocketAddr),
}

/// A received datagram as the core should see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ingress<'a> {
    /// The client: the peer of a trusted header, else the UDP source.
    pub client: SocketAddr,
    /// The Trickles datagram.
    pub payload: &'a [u8],
    /// Where its replies go.
    pub route: ReplyRoute,
}

/// Unwrap `datagram`, received from `from`, given the trusted `balancers`; `Err` is the drop
/// reason.
pub fn unwrap<'a>(
    balancers: &[SocketAddr],
    from: SocketAddr,
    datagram: &'a [u8],
) -> Result<Ingress<'a>, &'static str> {
    let plain = Ingress {
        client: from,
        payload: datagram,
        route: ReplyRoute::Direct,
    };
    match EncapRepr::parse_with_via(datagram) {
        Err(EncapError::NotEncapsulated) => Ok(plain),
        _ if !balancers.contains(&from) => Err(UNTRUSTED_ENCAP),
        Err(_) => Err(MALFORMED_ENCAP),
        Ok((header, via, inner)) => Ok(Ingress {
            client: header.peer,
            payload: inner,
            route: match (header.direct_return(), via) {
                (true, None) => ReplyRoute::DirectReturn,
                (true, Some(relay)) => ReplyRoute::Upstream(relay),
                (false, via) => ReplyRoute::Relay {
                    balancer: from,
                    via,
                },
            },
        }),
    }
}

impl ReplyRoute {
    /// Re-address the core's replies for this route.
    pub fn apply(self, replies: &mut [Transmit]) {
        let (next_hop, via) = match self {
            ReplyRoute::Direct | ReplyRoute::DirectReturn => return,
            ReplyRoute::Relay { balancer, via } => (balancer, via),
            ReplyRoute::Upstream(relay) => (relay, None),
        };
        for reply in replies {
            let mut header = [0u8; MAX_HEADER_LEN];
            let len = EncapRepr::new(reply.destination)
                .emit_via(via, &mut header)
                .unwrap_or(0);
            let mut payload = Vec::with_capacity(len + reply.payload.len());
            payload.extend_from_slice(&header[..len]);
            payload.extend_from_slice(&reply.payload);
            reply.payload = payload;
            reply.destination = next_hop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    const BALANCER: &str = "127.0.0.1:4433";
    const CLIENT: &str = "198.18.0.9:50000";

    #[test]
    fn plain_datagrams_are_served_as_always() {
        let ingress = unwrap(&[addr(BALANCER)], addr(CLIENT), b"\x01\x02abc").expect("plain");
        assert_eq!(ingress.client, addr(CLIENT));
        assert_eq!(ingress.route, ReplyRoute::Direct);
    }

    #[test]
    fn a_trusted_balancer_names_the_client_and_gets_the_replies() {
        let wire = EncapRepr::new(addr(CLIENT)).encapsulate(b"\x01\x02abc");
        let ingress = unwrap(&[addr(BALANCER)], addr(BALANCER), &wire).expect("trusted");
        assert_eq!(ingress.client, addr(CLIENT));
        assert_eq!(ingress.payload, b"\x01\x02abc");
        let mut replies = vec![Transmit {
            destination: addr(CLIENT),
            payload: b"reply".to_vec(),
        }];
        ingress.route.apply(&mut replies);
        assert_eq!(replies[0].destination, addr(BALANCER));
        let (header, inner) = EncapRepr::parse(&replies[0].payload).expect("encapsulated");
        assert_eq!((header.peer, inner), (addr(CLIENT), &b"reply"[..]));
    }

    #[test]
    fn direct_return_replies_go_straight_to_the_client() {
        let header = EncapRepr {
            peer: addr(CLIENT),
            flags: trickles_netfn::encap::FLAG_DIRECT_RETURN,
        };
        let wire = header.encapsulate(b"\x01\x02abc");
        let ingress = unwrap(&[addr(BALANCER)], addr(BALANCER), &wire).expect("trusted");
        assert_eq!(ingress.route, ReplyRoute::DirectReturn);
        let mut replies = vec![Transmit {
            destination: addr(CLIENT),
            payload: b"reply".to_vec(),
        }];
        ingress.route.apply(&mut replies);
        assert_eq!(replies[0].destination, addr(CLIENT));
        assert_eq!(replies[0].payload, b"reply");
    }

    #[test]
    fn a_via_relay_is_echoed_to_the_balancer_or_used_for_direct_return() {
        let mirror = addr("127.0.0.1:7000");
        let reply = || {
            vec![Transmit {
                destination: addr(CLIENT),
                payload: b"reply".to_vec(),
            }]
        };
        let mut wire = [0u8; MAX_HEADER_LEN + 5];
        let len = EncapRepr::new(addr(CLIENT))
            .emit_via(Some(mirror), &mut wire)
            .expect("fits");
        wire[len..len + 5].copy_from_slice(b"\x01\x02abc");
        let ingress = unwrap(&[addr(BALANCER)], addr(BALANCER), &wire[..len + 5]).expect("ok");
        assert_eq!(ingress.client, addr(CLIENT));
        let mut replies = reply();
        ingress.route.apply(&mut replies);
        assert_eq!(replies[0].destination, addr(BALANCER));
        let (header, via, inner) = EncapRepr::parse_with_via(&replies[0].payload).expect("reply");
        assert_eq!(
            (header.peer, via, inner),
            (addr(CLIENT), Some(mirror), &b"reply"[..])
        );

        wire[4] = trickles_netfn::encap::FLAG_DIRECT_RETURN;
        let ingress = unwrap(&[addr(BALANCER)], addr(BALANCER), &wire[..len + 5]).expect("ok");
        assert_eq!(ingress.route, ReplyRoute::Upstream(mirror));
        let mut replies = reply();
        ingress.route.apply(&mut replies);
        assert_eq!(replies[0].destination, mirror);
        let (header, via, _) = EncapRepr::parse_with_via(&replies[0].payload).expect("reply");
        assert_eq!((header.peer, via), (addr(CLIENT), None));
    }

    #[test]
    fn the_header_is_never_believed_from_anyone_else() {
        let wire = EncapRepr::new(addr(CLIENT)).encapsulate(b"\x01\x02abc");
        assert_eq!(
            unwrap(&[addr(BALANCER)], addr("127.0.0.1:9999"), &wire),
            Err(UNTRUSTED_ENCAP)
        );
        assert_eq!(unwrap(&[], addr(BALANCER), &wire), Err(UNTRUSTED_ENCAP));
        let mut bad = wire.clone();
        bad[3] = 5;
        assert_eq!(
            unwrap(&[addr(BALANCER)], addr(BALANCER), &bad),
            Err(MALFORMED_ENCAP)
        );
    }
}
