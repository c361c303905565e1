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
//! With a pool key (`pool_key:` / `--pool-key FILE`, [`trickles_netfn::hop_auth`]) the header
//! must also carry the balancer's hop tag, over its flags, client, VIA and the balancer's
//! address (this datagram's source), less than [`MAX_SKEW_SECS`] old: a missing, wrong or stale
//! tag is dropped (`missing_tag`, `bad_tag`, `stale_tag`) whatever the source, so neither a
//! spoofed balancer address nor a captured header makes the replica name another client, answer
//! directly, or follow a VIA option the balancer did not write. A `--balancer` list, if given,
//! is still checked first; without one, the tag alone is trusted. Relayed replies carry the
//! replica's tag the other way, which the balancer checks.
//!
//! When the balancer itself sits behind a relay (a packet mirror), its header carries a VIA
//! option naming that relay; the replica copies it into its replies so the balancer knows to
//! send them back through the relay (and in direct return, the replica sends them to the
//! relay itself, encapsulated, instead of to the client).

use std::net::SocketAddr;

use trickles::Transmit;
use trickles_netfn::encap::{EncapError, EncapPacket, EncapRepr, MAX_HEADER_LEN};
use trickles_netfn::hop_auth::{self, Direction, PoolKey, TAGGED_HEADER_MAX};

pub use trickles_netfn::hop_auth::MAX_SKEW_SECS;

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

/// What a replica trusts an encapsulation header by.
#[derive(Clone, Copy, Debug)]
pub struct Trust<'k> {
    /// Balancer addresses (`--balancer`): with no pool key, the only trust; with one, checked
    /// too when not empty.
    pub balancers: &'k [SocketAddr],
    /// The pool key (`--pool-key`): every header must carry its tag.
    pub pool_key: Option<&'k PoolKey>,
    /// UNIX seconds, for the tag's timestamp.
    pub now_secs: u64,
}

/// Unwrap `datagram`, received from `from`, given what the replica trusts; `Err` is the drop
/// reason.
pub fn unwrap<'a>(
    trust: Trust<'_>,
    from: SocketAddr,
    datagram: &'a [u8],
) -> Result<Ingress<'a>, &'static str> {
    let plain = Ingress {
        client: from,
        payload: datagram,
        route: ReplyRoute::Direct,
    };
    let listed = trust.balancers.contains(&from);
    let parsed = EncapRepr::parse_with_via(datagram);
    let (header, via, inner) = match (parsed, trust.pool_key) {
        (Err(EncapError::NotEncapsulated), _) => return Ok(plain),
        (_, None) if !listed => return Err(UNTRUSTED_ENCAP),
        (_, Some(_)) if !listed && !trust.balancers.is_empty() => return Err(UNTRUSTED_ENCAP),
        (Err(_), _) => return Err(MALFORMED_ENCAP),
        (Ok(parsed), _) => parsed,
    };
    if let Some(key) = trust.pool_key {
        let packet = EncapPacket::new_checked(datagram).map_err(|_| MALFORMED_ENCAP)?;
        hop_auth::check(
            &packet,
            &header,
            via,
            from,
            Direction::ToReplica,
            key,
            trust.now_secs,
        )
        .map_err(|refusal| refusal.name())?;
    }
    Ok(Ingress {
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
    })
}

/// Whether `reason` is a hop tag refusal (logged with its source).
pub fn is_tag_refusal(reason: &str) -> bool {
    hop_auth::HopRefusal::ALL.iter().any(|r| r.name() == reason)
}

impl ReplyRoute {
    /// Re-address the core's replies for this route; relayed replies to a balancer carry the
    /// replica's hop tag when the pool has a key (`trust.pool_key`).
    pub fn apply(self, replies: &mut [Transmit], trust: Trust<'_>) {
        let (next_hop, via, sign) = match self {
            ReplyRoute::Direct | ReplyRoute::DirectReturn => return,
            ReplyRoute::Relay { balancer, via } => (balancer, via, trust.pool_key),
            // The relay in front of the balancer is not of the pool: its own rules apply.
            ReplyRoute::Upstream(relay) => (relay, None, None),
        };
        for reply in replies {
            let mut header = [0u8; TAGGED_HEADER_MAX];
            let repr = EncapRepr::new(reply.destination);
            let len = match sign {
                None => repr.emit_via(via, &mut header[..MAX_HEADER_LEN]),
                Some(key) => hop_auth::sign_header(
                    &repr,
                    via,
                    next_hop,
                    Direction::ToBalancer,
                    key,
                    trust.now_secs as u32,
                    &mut header,
                ),
            }
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

    fn listed(balancers: &[SocketAddr]) -> Trust<'_> {
        Trust {
            balancers,
            pool_key: None,
            now_secs: NOW,
        }
    }

    const NOW: u64 = 1_764_806_400;
    const CLIENT: &str = "198.18.0.9:50000";

    #[test]
    fn plain_datagrams_are_served_as_always() {
        let ingress =
            unwrap(listed(&[addr(BALANCER)]), addr(CLIENT), b"\x01\x02abc").expect("plain");
        assert_eq!(ingress.client, addr(CLIENT));
        assert_eq!(ingress.route, ReplyRoute::Direct);
    }

    #[test]
    fn a_trusted_balancer_names_the_client_and_gets_the_replies() {
        let wire = EncapRepr::new(addr(CLIENT)).encapsulate(b"\x01\x02abc");
        let ingress = unwrap(listed(&[addr(BALANCER)]), addr(BALANCER), &wire).expect("trusted");
        assert_eq!(ingress.client, addr(CLIENT));
        assert_eq!(ingress.payload, b"\x01\x02abc");
        let mut replies = vec![Transmit {
            destination: addr(CLIENT),
            payload: b"reply".to_vec(),
        }];
        ingress.route.apply(&mut replies, listed(&[]));
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
        let ingress = unwrap(listed(&[addr(BALANCER)]), addr(BALANCER), &wire).expect("trusted");
        assert_eq!(ingress.route, ReplyRoute::DirectReturn);
        let mut replies = vec![Transmit {
            destination: addr(CLIENT),
            payload: b"reply".to_vec(),
        }];
        ingress.route.apply(&mut replies, listed(&[]));
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
        let ingress =
            unwrap(listed(&[addr(BALANCER)]), addr(BALANCER), &wire[..len + 5]).expect("ok");
        assert_eq!(ingress.client, addr(CLIENT));
        let mut replies = reply();
        ingress.route.apply(&mut replies, listed(&[]));
        assert_eq!(replies[0].destination, addr(BALANCER));
        let (header, via, inner) = EncapRepr::parse_with_via(&replies[0].payload).expect("reply");
        assert_eq!(
            (header.peer, via, inner),
            (addr(CLIENT), Some(mirror), &b"reply"[..])
        );

        wire[4] = trickles_netfn::encap::FLAG_DIRECT_RETURN;
        let ingress =
            unwrap(listed(&[addr(BALANCER)]), addr(BALANCER), &wire[..len + 5]).expect("ok");
        assert_eq!(ingress.route, ReplyRoute::Upstream(mirror));
        let mut replies = reply();
        ingress.route.apply(&mut replies, listed(&[]));
        assert_eq!(replies[0].destination, mirror);
        let (header, via, _) = EncapRepr::parse_with_via(&replies[0].payload).expect("reply");
        assert_eq!((header.peer, via), (addr(CLIENT), None));
    }

    #[test]
    fn the_header_is_never_believed_from_anyone_else() {
        let wire = EncapRepr::new(addr(CLIENT)).encapsulate(b"\x01\x02abc");
        assert_eq!(
            unwrap(listed(&[addr(BALANCER)]), addr("127.0.0.1:9999"), &wire),
            Err(UNTRUSTED_ENCAP)
        );
        assert_eq!(
            unwrap(listed(&[]), addr(BALANCER), &wire),
            Err(UNTRUSTED_ENCAP)
        );
        let mut bad = wire.clone();
        bad[3] = 5;
        assert_eq!(
            unwrap(listed(&[addr(BALANCER)]), addr(BALANCER), &bad),
            Err(MALFORMED_ENCAP)
        );
    }

    fn pool_key() -> PoolKey {
        PoolKey(
            trickles_netfn::AuthKey::from_hex(1, "000102030405060708090a0b0c0d0e0f").expect("key"),
        )
    }

    fn keyed<'k>(key: &'k PoolKey, balancers: &'k [SocketAddr]) -> Trust<'k> {
        Trust {
            balancers,
            pool_key: Some(key),
            now_secs: NOW,
        }
    }

    /// `header ‖ "\x01\x02abc"` tagged by a balancer at `balancer`.
    fn tagged(
        header: EncapRepr,
        via: Option<SocketAddr>,
        balancer: &str,
        key: &PoolKey,
    ) -> Vec<u8> {
        let mut wire = [0u8; TAGGED_HEADER_MAX + 5];
        let len = hop_auth::sign_header(
            &header,
            via,
            addr(balancer),
            Direction::ToReplica,
            key,
            NOW as u32,
            &mut wire,
        )
        .expect("fits");
        wire[len..len + 5].copy_from_slice(b"\x01\x02abc");
        wire[..len + 5].to_vec()
    }

    #[test]
    fn with_a_pool_key_a_forged_header_is_refused_in_both_families() {
        let key = pool_key();
        for (balancer, client) in [
            ("198.18.0.1:4433", "198.18.0.9:50000"),
            ("[2001:2::1]:4433", "[2001:2::9]:50000"),
        ] {
            let forged = EncapRepr::new(addr(client)).encapsulate(b"\x01\x02abc");
            // From the balancer's own (spoofed) address, listed or not: no tag, no trust.
            for list in [&[addr(balancer)][..], &[]] {
                assert_eq!(
                    unwrap(keyed(&key, list), addr(balancer), &forged),
                    Err("missing_tag")
                );
            }
            let other = PoolKey(
                trickles_netfn::AuthKey::from_hex(1, "ff0102030405060708090a0b0c0d0e0f")
                    .expect("key"),
            );
            let wrong = tagged(EncapRepr::new(addr(client)), None, balancer, &other);
            assert_eq!(
                unwrap(keyed(&key, &[]), addr(balancer), &wrong),
                Err("bad_tag")
            );
            let good = tagged(EncapRepr::new(addr(client)), None, balancer, &key);
            let ingress = unwrap(keyed(&key, &[]), addr(balancer), &good).expect("tagged");
            assert_eq!(ingress.client, addr(client));
            // A captured header replayed from another source does not verify.
            assert_eq!(
                unwrap(keyed(&key, &[]), addr("198.18.0.66:4433"), &good),
                Err("bad_tag")
            );
            // Nor after its time.
            let later = Trust {
                now_secs: NOW + MAX_SKEW_SECS + 1,
                ..keyed(&key, &[])
            };
            assert_eq!(unwrap(later, addr(balancer), &good), Err("stale_tag"));
        }
    }

    #[test]
    fn via_is_not_followed_unless_the_tag_covers_it() {
        let key = pool_key();
        let direct = EncapRepr {
            peer: addr(CLIENT),
            flags: trickles_netfn::encap::FLAG_DIRECT_RETURN,
        };
        let honest = tagged(direct, None, BALANCER, &key);
        // Splice a VIA option in front of the balancer's tag: the tag no longer matches.
        let header_len = usize::from(honest[5]);
        let tag_at = header_len - trickles_netfn::mirror_auth::AUTH_OPTION_LEN;
        let via_option = [
            trickles_netfn::encap::OPTION_VIA,
            6,
            0x1b,
            0x58,
            198,
            18,
            0,
            66,
        ];
        let mut spliced = honest[..tag_at].to_vec();
        spliced.extend_from_slice(&via_option);
        spliced.extend_from_slice(&honest[tag_at..]);
        spliced[5] = (header_len + via_option.len()) as u8;
        assert!(EncapRepr::parse_with_via(&spliced)
            .expect("parses")
            .1
            .is_some());
        assert_eq!(
            unwrap(keyed(&key, &[]), addr(BALANCER), &spliced),
            Err("bad_tag")
        );
        // The same VIA written and tagged by the balancer is followed.
        let mirror = addr("198.18.0.66:7000");
        let signed = tagged(direct, Some(mirror), BALANCER, &key);
        let ingress = unwrap(keyed(&key, &[]), addr(BALANCER), &signed).expect("tagged");
        assert_eq!(ingress.route, ReplyRoute::Upstream(mirror));
    }

    #[test]
    fn relayed_replies_carry_the_replicas_tag() {
        let key = pool_key();
        let wire = tagged(EncapRepr::new(addr(CLIENT)), None, BALANCER, &key);
        let ingress = unwrap(keyed(&key, &[]), addr(BALANCER), &wire).expect("tagged");
        let mut replies = vec![Transmit {
            destination: addr(CLIENT),
            payload: b"reply".to_vec(),
        }];
        ingress.route.apply(&mut replies, keyed(&key, &[]));
        let packet = EncapPacket::new_checked(&replies[0].payload[..]).expect("header");
        let (header, via, inner) = EncapRepr::parse_with_via(&replies[0].payload).expect("reply");
        assert_eq!((header.peer, inner), (addr(CLIENT), &b"reply"[..]));
        assert_eq!(
            hop_auth::check(
                &packet,
                &header,
                via,
                addr(BALANCER),
                Direction::ToBalancer,
                &key,
                NOW
            ),
            Ok(())
        );
    }
}
