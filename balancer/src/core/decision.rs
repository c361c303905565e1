//! [`decide`]: the balancer's whole per-datagram decision, as a function of the datagram, its
//! source, the [`ForwardingTable`] and the worker's [`Spray`] state. No sockets, no clock.
//!
//! ```text
//! from a configured backend ──▶ encapsulated? ──no──▶ drop (backend_not_encapsulated)
//!                                    │yes
//!                                    ▼
//!              pool key set: hop tag ok? ──no──▶ drop (missing_tag, bad_tag, stale_tag)
//!                                    │yes
//!                                    ▼
//!              peer or VIA is a backend? ──yes──▶ drop (loop);  VIA not an upstream: drop (unknown_via)
//!                                    │no
//!                                    ▼
//!        Return: inner datagram to the peer (the client), or encap(peer) + inner to the VIA relay
//!
//! from anyone else ──▶ encapsulated? ──yes, from a configured upstream relay──▶ client = its peer
//!                           │no (client = source)       └─ from anyone else: drop (untrusted_encap)
//!                           ▼
//!                 has a connection id (≥ 10 bytes)? ──no──▶ drop (too_short)
//!                           │yes
//!                           ▼
//!       Maglev(reduce(hash_k(conn_id), M)) or spray ──none──▶ drop (no_backend)
//!                           │
//!                           ▼
//!       Forward: encap(peer = client, DSR flag in direct-return mode, VIA = the upstream relay
//!                if any; the hop tag when the pool has a key) + datagram to the backend
//! ```
//!
//! With a pool key ([`ForwardingTable::pool_key`]) a backend's reply must carry the replica's
//! hop tag (`trickles_netfn::hop_auth`) over its flags, client, VIA and the balancer's address:
//! an address spoofed as a backend's no longer makes the balancer send bytes to any client or
//! relay. The tag needs the balancer's address and the time ([`HopClock`], given to
//! [`decide_at`]); the datapath writes the tag of forwarded datagrams itself.
//!
//! The encapsulation header is trusted only from configured backends and upstream relays:
//! anyone else could otherwise make the balancer send arbitrary bytes to arbitrary addresses.
//! An upstream relay is a packet mirror in front of the balancer (`upstreams:`): it delivers a
//! client's datagram as `encap(peer = client) ‖ datagram` and expects the replies back the same
//! way; the VIA option carries its address through the replica and back, so the balancer stays
//! stateless.

use std::net::SocketAddr;

use trickles_netfn::encap::{EncapError, EncapPacket, EncapRepr, FLAG_DIRECT_RETURN};
use trickles_netfn::hop_auth::{self, Direction, HopRefusal};
use trickles_netfn::is_encapsulated;

use super::constants::connection_id;
use super::spray::Spray;
use super::table::{ForwardingMode, ForwardingTable, Policy};

/// Why a datagram was not forwarded (the `reason` label of `trickles_balancer_drops_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A client datagram too short to carry a connection id.
    TooShort,
    /// No backend is in the table (all down or drained).
    NoBackend,
    /// An encapsulated datagram from an address that is not a configured backend.
    UntrustedEncap,
    /// A backend sent a malformed encapsulation header.
    MalformedEncap,
    /// A backend sent a plain datagram: the balancer cannot know whom it is for.
    BackendNotEncapsulated,
    /// A backend's reply names a backend as the client (would loop).
    Loop,
    /// Longer than the receive buffer.
    Truncated,
    /// From an address family other than IPv4/IPv6.
    AddressFamily,
    /// The kernel refused to send it.
    SendError,
    /// A backend's reply names a VIA relay that is not a configured upstream.
    UnknownVia,
    /// With a pool key: a backend's reply without a hop tag.
    MissingTag,
    /// With a pool key: a backend's reply whose hop tag is not the pool key's.
    BadTag,
    /// With a pool key: a backend's reply whose hop tag is too old (or from the future).
    StaleTag,
}

impl DropReason {
    /// Every reason (to pre-create metric series).
    pub const ALL: [DropReason; 13] = [
        DropReason::TooShort,
        DropReason::NoBackend,
        DropReason::UntrustedEncap,
        DropReason::MalformedEncap,
        DropReason::BackendNotEncapsulated,
        DropReason::Loop,
        DropReason::Truncated,
        DropReason::AddressFamily,
        DropReason::SendError,
        DropReason::UnknownVia,
        DropReason::MissingTag,
        DropReason::BadTag,
        DropReason::StaleTag,
    ];

    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::NoBackend => "no_backend",
            DropReason::UntrustedEncap => "untrusted_encap",
            DropReason::MalformedEncap => "malformed_encap",
            DropReason::BackendNotEncapsulated => "backend_not_encapsulated",
            DropReason::Loop => "loop",
            DropReason::Truncated => "truncated",
            DropReason::AddressFamily => "address_family",
            DropReason::SendError => "send_error",
            DropReason::UnknownVia => "unknown_via",
            DropReason::MissingTag => HopRefusal::MissingTag.name(),
            DropReason::BadTag => HopRefusal::BadTag.name(),
            DropReason::StaleTag => HopRefusal::StaleTag.name(),
        }
    }
}

/// What to do with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// A client datagram: send `header` (with a VIA option naming `via`, if any), then
    /// `inner`, to backend `backend`.
    Forward {
        /// Index into [`ForwardingTable::backends`].
        backend: u32,
        /// The backend's address.
        destination: SocketAddr,
        /// The encapsulation header naming the client.
        header: EncapRepr,
        /// The upstream relay the datagram came through.
        via: Option<SocketAddr>,
        /// The client's datagram (without the relay's header).
        inner: &'a [u8],
    },
    /// A backend's reply: send `inner` to `client`, or `encap(peer = client) ‖ inner` to the
    /// `via` relay.
    Return {
        /// The backend it came from (index into [`ForwardingTable::backends`]).
        backend: u32,
        /// The client.
        client: SocketAddr,
        /// The upstream relay the reply goes back through.
        via: Option<SocketAddr>,
        /// The reply without its encapsulation header.
        inner: &'a [u8],
    },
    /// Drop it.
    Drop(DropReason),
}

/// What checking a hop tag needs besides the table: where the balancer is and when it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopClock {
    /// The balancer's address (the VIP of the socket the datagram arrived on).
    pub vip: SocketAddr,
    /// UNIX seconds.
    pub now_secs: u64,
}

impl From<HopRefusal> for DropReason {
    fn from(refusal: HopRefusal) -> Self {
        match refusal {
            HopRefusal::MissingTag => DropReason::MissingTag,
            HopRefusal::BadTag => DropReason::BadTag,
            HopRefusal::StaleTag => DropReason::StaleTag,
        }
    }
}

/// Decide what to do with `datagram`, received from `from`, with a table that has no pool key
/// (with one, every reply is refused: use [`decide_at`]).
pub fn decide<'a>(
    datagram: &'a [u8],
    from: SocketAddr,
    table: &ForwardingTable,
    spray: &mut Spray,
) -> Verdict<'a> {
    let nowhere = HopClock {
        vip: SocketAddr::from(([0, 0, 0, 0], 0)),
        now_secs: 0,
    };
    decide_at(datagram, from, table, spray, nowhere)
}

/// Decide what to do with `datagram`, received from `from` on the VIP and at the time `clock`
/// gives (which only a table with a pool key looks at).
pub fn decide_at<'a>(
    datagram: &'a [u8],
    from: SocketAddr,
    table: &ForwardingTable,
    spray: &mut Spray,
    clock: HopClock,
) -> Verdict<'a> {
    if let Some(backend) = table.backend_at(from) {
        return match EncapRepr::parse_with_via(datagram) {
            Ok((header, via, inner)) => {
                if let (Some(key), Ok(packet)) =
                    (table.pool_key(), EncapPacket::new_checked(datagram))
                {
                    if let Err(refusal) = hop_auth::check(
                        &packet,
                        &header,
                        via,
                        clock.vip,
                        Direction::ToBalancer,
                        key,
                        clock.now_secs,
                    ) {
                        return Verdict::Drop(refusal.into());
                    }
                }
                let is_backend = |a: SocketAddr| table.backend_at(a).is_some();
                if is_backend(header.peer) || via.is_some_and(is_backend) {
                    return Verdict::Drop(DropReason::Loop);
                }
                if via.is_some_and(|v| !table.is_upstream(v)) {
                    return Verdict::Drop(DropReason::UnknownVia);
                }
                if table.policy == Policy::LeastLoaded {
                    spray.account(backend, inner.len());
                }
                Verdict::Return {
                    backend,
                    client: header.peer,
                    via,
                    inner,
                }
            }
            Err(EncapError::NotEncapsulated) => Verdict::Drop(DropReason::BackendNotEncapsulated),
            Err(_) => Verdict::Drop(DropReason::MalformedEncap),
        };
    }
    let (client, inner, via) = if is_encapsulated(datagram) {
        if !table.is_upstream(from) {
            return Verdict::Drop(DropReason::UntrustedEncap);
        }
        match EncapRepr::parse(datagram) {
            Ok((header, _)) if table.backend_at(header.peer).is_some() => {
                return Verdict::Drop(DropReason::Loop)
            }
            Ok((header, inner)) => (header.peer, inner, Some(from)),
            Err(_) => return Verdict::Drop(DropReason::MalformedEncap),
        }
    } else {
        (from, datagram, None)
    };
    let Some(conn_id) = connection_id(inner) else {
        return Verdict::Drop(DropReason::TooShort);
    };
    let chosen = if table.policy.sprays() {
        spray.choose(table, inner.len())
    } else {
        table.maglev_backend(conn_id)
    };
    let Some(backend) = chosen else {
        return Verdict::Drop(DropReason::NoBackend);
    };
    let flags = match table.mode {
        ForwardingMode::Relay => 0,
        ForwardingMode::DirectReturn => FLAG_DIRECT_RETURN,
    };
    Verdict::Forward {
        backend,
        destination: table.backends[backend as usize].address,
        header: EncapRepr {
            peer: client,
            flags,
        },
        via,
        inner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::table::TableBackend;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn table(policy: Policy, mode: ForwardingMode, up: [bool; 3]) -> ForwardingTable {
        let backends = (0..3)
            .map(|i| TableBackend {
                name: format!("r{i}"),
                address: addr(&format!("127.0.0.1:{}", 6000 + i)),
                weight: 1,
                up: up[i],
                drained: false,
            })
            .collect();
        ForwardingTable::build(backends, policy, mode, 251).expect("table")
    }

    fn trickles(conn_id: u64) -> Vec<u8> {
        let mut d = vec![1u8, 2];
        d.extend_from_slice(&conn_id.to_be_bytes());
        d.extend_from_slice(&[0; 20]);
        d
    }

    const CLIENT: &str = "[2001:db8::7]:40000";

    #[test]
    fn client_datagram_is_encapsulated_to_its_maglev_backend() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        let mut spray = Spray::new(&t);
        let expected = t.maglev_backend(99).expect("backend");
        let datagram = trickles(99);
        let verdict = decide(&datagram, addr(CLIENT), &t, &mut spray);
        assert_eq!(
            verdict,
            Verdict::Forward {
                backend: expected,
                destination: t.backends[expected as usize].address,
                header: EncapRepr::new(addr(CLIENT)),
                via: None,
                inner: &datagram,
            }
        );
    }

    #[test]
    fn a_connection_sticks_to_one_backend_under_maglev() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        let mut spray = Spray::new(&t);
        let datagram = trickles(7);
        let picks: Vec<_> = (0..20)
            .map(|_| decide(&datagram, addr(CLIENT), &t, &mut spray))
            .collect();
        assert!(picks.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn spraying_sends_one_connection_to_every_backend_in_turn() {
        let t = table(Policy::RoundRobin, ForwardingMode::Relay, [true; 3]);
        let mut spray = Spray::new(&t);
        let backends: Vec<u32> = (0..6)
            .map(
                |_| match decide(&trickles(7), addr(CLIENT), &t, &mut spray) {
                    Verdict::Forward { backend, .. } => backend,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(backends, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn direct_return_mode_sets_the_flag() {
        let t = table(Policy::Maglev, ForwardingMode::DirectReturn, [true; 3]);
        match decide(&trickles(1), addr(CLIENT), &t, &mut Spray::new(&t)) {
            Verdict::Forward { header, .. } => assert!(header.direct_return()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backend_reply_is_returned_to_the_named_client() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        let reply = EncapRepr::new(addr(CLIENT)).encapsulate(b"response");
        let verdict = decide(&reply, addr("127.0.0.1:6001"), &t, &mut Spray::new(&t));
        assert_eq!(
            verdict,
            Verdict::Return {
                backend: 1,
                client: addr(CLIENT),
                via: None,
                inner: b"response",
            }
        );
    }

    const MIRROR: &str = "127.0.0.1:7000";

    fn with_mirror(t: ForwardingTable) -> ForwardingTable {
        t.with_upstreams(vec![addr(MIRROR)])
    }

    #[test]
    fn a_datagram_through_an_upstream_mirror_is_balanced_on_its_client() {
        let t = with_mirror(table(Policy::Maglev, ForwardingMode::Relay, [true; 3]));
        let datagram = trickles(99);
        let wrapped = EncapRepr::new(addr(CLIENT)).encapsulate(&datagram);
        match decide(&wrapped, addr(MIRROR), &t, &mut Spray::new(&t)) {
            Verdict::Forward {
                backend,
                header,
                via,
                inner,
                ..
            } => {
                assert_eq!(Some(backend), t.maglev_backend(99));
                assert_eq!(header.peer, addr(CLIENT));
                assert_eq!(via, Some(addr(MIRROR)));
                assert_eq!(inner, &datagram[..]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reply_with_via_goes_back_through_the_mirror_only_if_configured() {
        let mut header = [0u8; trickles_netfn::encap::MAX_HEADER_LEN + 2];
        let len = EncapRepr::new(addr(CLIENT))
            .emit_via(Some(addr(MIRROR)), &mut header)
            .expect("fits");
        header[len..len + 2].copy_from_slice(b"ok");
        let reply = &header[..len + 2];
        let t = with_mirror(table(Policy::Maglev, ForwardingMode::Relay, [true; 3]));
        assert_eq!(
            decide(reply, addr("127.0.0.1:6002"), &t, &mut Spray::new(&t)),
            Verdict::Return {
                backend: 2,
                client: addr(CLIENT),
                via: Some(addr(MIRROR)),
                inner: b"ok",
            }
        );
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        assert_eq!(
            decide(reply, addr("127.0.0.1:6002"), &t, &mut Spray::new(&t)),
            Verdict::Drop(DropReason::UnknownVia)
        );
    }

    #[test]
    fn a_down_backend_still_gets_its_replies_relayed() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true, false, true]);
        let reply = EncapRepr::new(addr(CLIENT)).encapsulate(b"late");
        assert!(matches!(
            decide(&reply, addr("127.0.0.1:6001"), &t, &mut Spray::new(&t)),
            Verdict::Return { backend: 1, .. }
        ));
        for id in 0..200 {
            match decide(&trickles(id), addr(CLIENT), &t, &mut Spray::new(&t)) {
                Verdict::Forward { backend, .. } => assert_ne!(backend, 1),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn encapsulation_from_a_stranger_is_dropped() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        let forged = EncapRepr::new(addr("192.0.2.1:53")).encapsulate(&trickles(1));
        assert_eq!(
            decide(&forged, addr(CLIENT), &t, &mut Spray::new(&t)),
            Verdict::Drop(DropReason::UntrustedEncap)
        );
    }

    #[test]
    fn malformed_and_looping_backend_datagrams_are_dropped() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        let mut spray = Spray::new(&t);
        let from = addr("127.0.0.1:6000");
        assert_eq!(
            decide(&trickles(1), from, &t, &mut spray),
            Verdict::Drop(DropReason::BackendNotEncapsulated)
        );
        let mut bad = EncapRepr::new(addr(CLIENT)).encapsulate(b"x");
        bad[2] = 9;
        assert_eq!(
            decide(&bad, from, &t, &mut spray),
            Verdict::Drop(DropReason::MalformedEncap)
        );
        let looping = EncapRepr::new(addr("127.0.0.1:6002")).encapsulate(b"x");
        assert_eq!(
            decide(&looping, from, &t, &mut spray),
            Verdict::Drop(DropReason::Loop)
        );
    }

    #[test]
    fn short_datagrams_and_empty_pools_are_dropped() {
        let t = table(Policy::Maglev, ForwardingMode::Relay, [true; 3]);
        assert_eq!(
            decide(&[1, 2, 3], addr(CLIENT), &t, &mut Spray::new(&t)),
            Verdict::Drop(DropReason::TooShort)
        );
        let empty = table(Policy::Maglev, ForwardingMode::Relay, [false; 3]);
        assert_eq!(
            decide(&trickles(5), addr(CLIENT), &empty, &mut Spray::new(&empty)),
            Verdict::Drop(DropReason::NoBackend)
        );
    }

    fn pool_key() -> trickles_netfn::PoolKey {
        trickles_netfn::PoolKey(
            trickles_netfn::AuthKey::from_hex(5, "000102030405060708090a0b0c0d0e0f").expect("key"),
        )
    }

    const VIP: &str = "198.18.0.1:4433";
    const NOW: u64 = 1_764_806_400;

    fn clock() -> HopClock {
        HopClock {
            vip: addr(VIP),
            now_secs: NOW,
        }
    }

    /// A reply from a replica tagged with `key` (for the balancer at `vip`).
    fn tagged_reply(key: &trickles_netfn::PoolKey, vip: &str) -> Vec<u8> {
        let mut wire = [0u8; hop_auth::TAGGED_HEADER_MAX + 8];
        let len = hop_auth::sign_header(
            &EncapRepr::new(addr(CLIENT)),
            None,
            addr(vip),
            Direction::ToBalancer,
            key,
            NOW as u32,
            &mut wire,
        )
        .expect("fits");
        wire[len..len + 8].copy_from_slice(b"response");
        wire[..len + 8].to_vec()
    }

    #[test]
    fn with_a_pool_key_a_reply_needs_the_replicas_tag() {
        let t =
            table(Policy::Maglev, ForwardingMode::Relay, [true; 3]).with_pool_key(Some(pool_key()));
        let backend = addr("127.0.0.1:6001");
        let decide_now = |wire: &[u8]| {
            decide_at(wire, backend, &t, &mut Spray::new(&t), clock()).to_owned_drop()
        };
        // Spoofing a backend's address is no longer enough.
        let untagged = EncapRepr::new(addr(CLIENT)).encapsulate(b"response");
        assert_eq!(decide_now(&untagged), Some(DropReason::MissingTag));
        let other = trickles_netfn::PoolKey(
            trickles_netfn::AuthKey::from_hex(5, "ff0102030405060708090a0b0c0d0e0f").expect("key"),
        );
        assert_eq!(
            decide_now(&tagged_reply(&other, VIP)),
            Some(DropReason::BadTag)
        );
        // A tag made for another balancer.
        assert_eq!(
            decide_now(&tagged_reply(&pool_key(), "198.18.0.2:4433")),
            Some(DropReason::BadTag)
        );
        let good = tagged_reply(&pool_key(), VIP);
        assert_eq!(
            decide_at(&good, backend, &t, &mut Spray::new(&t), clock()),
            Verdict::Return {
                backend: 1,
                client: addr(CLIENT),
                via: None,
                inner: b"response",
            }
        );
        let later = HopClock {
            now_secs: NOW + hop_auth::MAX_SKEW_SECS + 1,
            ..clock()
        };
        assert_eq!(
            decide_at(&good, backend, &t, &mut Spray::new(&t), later),
            Verdict::Drop(DropReason::StaleTag)
        );
    }

    impl Verdict<'_> {
        fn to_owned_drop(self) -> Option<DropReason> {
            match self {
                Verdict::Drop(reason) => Some(reason),
                _ => None,
            }
        }
    }
}
