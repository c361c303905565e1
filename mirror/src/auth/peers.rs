//! The configured peers and the two questions the mirror asks about every datagram: *who sent
//! this?* and *may they send it there?*
//!
//! A peer is a name, the addresses it sends from, the keys it may tag with, the side of the
//! emulated path it sits on, and how far it may reach:
//! - a peer with addresses and **no keys** is recognised by its source address alone (the most
//!   specific matching pattern wins; hosts on a trusted network, the lab);
//! - a peer with **keys** must tag every datagram ([`AuthOption`]); if it also lists addresses,
//!   the tag is accepted only from them, otherwise from anywhere (roaming, behind NAT);
//! - its **reach** is `peers` (the default: destinations must match some peer's address, and
//!   a client-side peer only a *server-side* peer's: the mirror is a path between clients and
//!   servers, not a relay between clients) or `any` (a server side that answers roaming clients
//!   at addresses no configuration lists).
//!
//! Everything else is refused and counted; the mirror answers nobody it does not forward for.
//! Lookups scan the peer list: configurations hold a handful of peers, and a scan over a few
//! patterns costs less than a hash of a socket address.

use std::net::SocketAddr;

use trickles_netfn::mirror_auth::{AuthKey, AuthOption};

use super::address_pattern::AddressPattern;
use crate::reject::Reject;
use crate::wan::Direction;

/// Which end of the emulated path a peer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Starts connections (trickles clients, the TCP baseline's client side).
    Client,
    /// Serves them (a server, a balancer's VIP).
    Server,
}

impl Side {
    /// The direction of the datagrams this side sends.
    pub const fn sends(self) -> Direction {
        match self {
            Side::Client => Direction::ToServer,
            Side::Server => Direction::ToClient,
        }
    }
}

/// Which destinations a peer may ask the mirror to forward to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// Only addresses some peer's patterns match.
    Peers,
    /// Any address.
    Any,
}

/// One configured peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Name (metrics label, logs).
    pub name: String,
    /// Addresses it sends from (empty: anywhere, keys required).
    pub addresses: Vec<AddressPattern>,
    /// Keys it tags with (empty: recognised by address alone).
    pub keys: Vec<AuthKey>,
    /// Side of the emulated path.
    pub side: Side,
    /// Destinations it may reach.
    pub reach: Reach,
}

/// Index of a peer in its [`PeerTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

/// A configuration of peers that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerTableError {
    /// Neither addresses nor keys: nothing would ever match it.
    #[error("peer `{0}` has neither addresses nor keys")]
    Unreachable(String),
    /// Two peers share a name.
    #[error("two peers are named `{0}`")]
    DuplicateName(String),
    /// Two keys share an id.
    #[error("key id {0} is used twice")]
    DuplicateKeyId(u8),
    /// More peers than ids.
    #[error("more than {} peers", u16::MAX)]
    TooMany,
}

/// The peers of one configuration, with the key ids indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerTable {
    peers: Vec<Peer>,
    /// Peer and key position for every key id in use.
    keys_by_id: Box<[Option<(PeerId, usize)>; 256]>,
}

/// What a datagram asks for, as the authentication sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Source address of the datagram.
    pub from: SocketAddr,
    /// Destination named in its encapsulation header.
    pub destination: SocketAddr,
    /// Flags of its encapsulation header (covered by the tag).
    pub flags: u8,
    /// The authentication option, if it carries one.
    pub auth: Option<AuthOption>,
    /// The carried datagram.
    pub inner: &'a [u8],
}

impl PeerTable {
    /// Check and index `peers`.
    pub fn new(peers: Vec<Peer>) -> Result<Self, PeerTableError> {
        if peers.len() > usize::from(u16::MAX) {
            return Err(PeerTableError::TooMany);
        }
        let mut keys_by_id = Box::new([None; 256]);
        for (index, peer) in peers.iter().enumerate() {
            if peer.addresses.is_empty() && peer.keys.is_empty() {
                return Err(PeerTableError::Unreachable(peer.name.clone()));
            }
            if peers[..index].iter().any(|p| p.name == peer.name) {
                return Err(PeerTableError::DuplicateName(peer.name.clone()));
            }
            for (position, key) in peer.keys.iter().enumerate() {
                let slot = &mut keys_by_id[usize::from(key.id)];
                if slot.is_some() {
                    return Err(PeerTableError::DuplicateKeyId(key.id));
                }
                // `index` < u16::MAX, checked above.
                *slot = Some((PeerId(index as u16), position));
            }
        }
        Ok(PeerTable { peers, keys_by_id })
    }

    /// The peers, in configuration order.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer `id`.
    pub fn get(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(usize::from(id.0))
    }

    /// The peer whose patterns match `addr` most specifically, and how specifically.
    fn by_address(&self, addr: SocketAddr) -> Option<(PeerId, u16)> {
        let mut best: Option<(PeerId, u16)> = None;
        for (index, peer) in self.peers.iter().enumerate() {
            for pattern in &peer.addresses {
                let rank = pattern.specificity();
                if pattern.matches(addr) && best.is_none_or(|(_, r)| rank > r) {
                    best = Some((PeerId(index as u16), rank));
                }
            }
        }
        best
    }

    /// Who sent `request`, or why it is refused. `now_secs` is the wall clock (seconds since
    /// the UNIX epoch); a tag's timestamp may differ from it by at most `max_skew_secs`.
    pub fn authenticate(
        &self,
        request: &Request<'_>,
        now_secs: u64,
        max_skew_secs: u64,
    ) -> Result<PeerId, Reject> {
        let Some(auth) = request.auth else {
            return match self.by_address(request.from) {
                None => Err(Reject::UnknownSource),
                Some((id, _)) if !self.peers[usize::from(id.0)].keys.is_empty() => {
                    Err(Reject::MissingTag)
                }
                Some((id, _)) => Ok(id),
            };
        };
        let (id, position) = self.keys_by_id[usize::from(auth.key_id)].ok_or(Reject::UnknownKey)?;
        let peer = &self.peers[usize::from(id.0)];
        if !peer.addresses.is_empty() && !peer.addresses.iter().any(|p| p.matches(request.from)) {
            return Err(Reject::UnknownKey);
        }
        let key = &peer.keys[position];
        if !key.verify(
            auth.tag,
            auth.timestamp,
            request.flags,
            request.destination,
            request.inner,
        ) {
            return Err(Reject::BadTag);
        }
        if !timestamp_fresh(auth.timestamp, now_secs, max_skew_secs) {
            return Err(Reject::StaleTag);
        }
        Ok(id)
    }

    /// Whether the peer `source` may have datagrams forwarded to `destination`: with reach
    /// `peers`, a destination some peer's patterns match, and for a client-side source some
    /// *server-side* peer's patterns.
    pub fn may_reach(&self, source: PeerId, destination: SocketAddr) -> bool {
        let Some(peer) = self.get(source) else {
            return false;
        };
        match (peer.reach, peer.side) {
            (Reach::Any, _) => true,
            (Reach::Peers, Side::Server) => self.by_address(destination).is_some(),
            (Reach::Peers, Side::Client) => self.peers.iter().any(|p| {
                p.side == Side::Server && p.addresses.iter().any(|a| a.matches(destination))
            }),
        }
    }
}

/// Whether a 32-bit timestamp is within `max_skew` seconds of `now` (either side), comparing
/// modulo 2^32 so the 2106 wrap is harmless.
pub fn timestamp_fresh(timestamp: u32, now_secs: u64, max_skew: u64) -> bool {
    let now = now_secs as u32;
    let distance = now.wrapping_sub(timestamp).min(timestamp.wrapping_sub(now));
    u64::from(distance) <= max_skew
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const SKEW: u64 = 30;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    fn peer(name: &str, addresses: &[&str], keys: Vec<AuthKey>, side: Side) -> Peer {
        Peer {
            name: name.to_owned(),
            addresses: addresses
                .iter()
                .map(|a| a.parse().expect("pattern"))
                .collect(),
            keys,
            side,
            reach: Reach::Peers,
        }
    }

    fn laptop_key() -> AuthKey {
        AuthKey::new(9, [7; 16])
    }

    fn table() -> PeerTable {
        let mut server = peer("vip", &["198.18.0.1:4433"], vec![], Side::Server);
        server.reach = Reach::Any;
        PeerTable::new(vec![
            peer(
                "lab",
                &["127.0.0.0/8", "198.18.0.0/15"],
                vec![],
                Side::Client,
            ),
            server,
            peer("laptop", &[], vec![laptop_key()], Side::Client),
            peer(
                "office",
                &["203.0.113.0/24"],
                vec![AuthKey::new(1, [1; 16])],
                Side::Client,
            ),
        ])
        .expect("table")
    }

    fn request(from: &str, auth: Option<AuthOption>) -> Request<'static> {
        Request {
            from: addr(from),
            destination: addr("198.18.0.1:4433"),
            flags: 0,
            auth,
            inner: b"trickles",
        }
    }

    fn signed(key: &AuthKey, timestamp: u64) -> Option<AuthOption> {
        Some(AuthOption::sign(
            key,
            timestamp as u32,
            0,
            addr("198.18.0.1:4433"),
            b"trickles",
        ))
    }

    #[test]
    fn tagged_datagram_with_flags_changed_on_the_way_is_refused() {
        let t = table();
        let mut altered = request("192.0.2.1:5000", signed(&laptop_key(), NOW));
        altered.flags = trickles_netfn::encap::FLAG_DIRECT_RETURN;
        assert_eq!(t.authenticate(&altered, NOW, SKEW), Err(Reject::BadTag));
    }

    #[test]
    fn client_side_peers_reach_only_server_side_peers() {
        let t = table();
        // The office (client side) is a configured peer, but not a server.
        assert!(!t.may_reach(PeerId(0), addr("203.0.113.9:4000")));
        assert!(!t.may_reach(PeerId(2), addr("127.0.0.1:5000")));
        assert!(t.may_reach(PeerId(2), addr("198.18.0.1:4433")));
        // The server side answers clients.
        assert!(t.may_reach(PeerId(1), addr("203.0.113.9:4000")));
    }

    #[test]
    fn configured_address_is_recognised_most_specific_first() {
        let t = table();
        assert_eq!(
            t.authenticate(&request("127.0.0.1:5000", None), NOW, SKEW),
            Ok(PeerId(0))
        );
        // 198.18.0.1:4433 is inside the lab prefix, but the exact pattern wins.
        assert_eq!(
            t.authenticate(&request("198.18.0.1:4433", None), NOW, SKEW),
            Ok(PeerId(1))
        );
        assert_eq!(
            t.authenticate(&request("198.18.0.1:4434", None), NOW, SKEW),
            Ok(PeerId(0))
        );
    }

    #[test]
    fn unknown_untagged_source_is_refused() {
        assert_eq!(
            table().authenticate(&request("192.0.2.1:5000", None), NOW, SKEW),
            Err(Reject::UnknownSource)
        );
    }

    #[test]
    fn roaming_peer_is_recognised_by_its_tag_from_anywhere() {
        let t = table();
        let auth = signed(&laptop_key(), NOW);
        assert_eq!(
            t.authenticate(&request("192.0.2.1:5000", auth), NOW, SKEW),
            Ok(PeerId(2))
        );
    }

    #[test]
    fn forged_stale_or_misplaced_tags_are_refused() {
        let t = table();
        let forged = signed(&AuthKey::new(9, [8; 16]), NOW);
        assert_eq!(
            t.authenticate(&request("192.0.2.1:5000", forged), NOW, SKEW),
            Err(Reject::BadTag)
        );
        let stale = signed(&laptop_key(), NOW - SKEW - 1);
        assert_eq!(
            t.authenticate(&request("192.0.2.1:5000", stale), NOW, SKEW),
            Err(Reject::StaleTag)
        );
        let unknown = signed(&AuthKey::new(200, [7; 16]), NOW);
        assert_eq!(
            t.authenticate(&request("192.0.2.1:5000", unknown), NOW, SKEW),
            Err(Reject::UnknownKey)
        );
        // The office key is only valid from the office prefix.
        let office = signed(&AuthKey::new(1, [1; 16]), NOW);
        assert_eq!(
            t.authenticate(&request("192.0.2.1:5000", office), NOW, SKEW),
            Err(Reject::UnknownKey)
        );
        assert_eq!(
            t.authenticate(&request("203.0.113.5:1", office), NOW, SKEW),
            Ok(PeerId(3))
        );
    }

    #[test]
    fn keyed_peer_must_tag_even_from_its_own_address() {
        assert_eq!(
            table().authenticate(&request("203.0.113.5:1", None), NOW, SKEW),
            Err(Reject::MissingTag)
        );
    }

    #[test]
    fn destinations_are_limited_to_peers_unless_reach_is_any() {
        let t = table();
        assert!(t.may_reach(PeerId(0), addr("198.18.0.1:4433")));
        assert!(!t.may_reach(PeerId(0), addr("192.0.2.1:53")));
        assert!(
            !t.may_reach(PeerId(0), addr("198.18.0.7:4433")),
            "a lab client"
        );
        assert!(t.may_reach(PeerId(1), addr("192.0.2.1:5000")));
        assert!(!t.may_reach(PeerId(99), addr("198.18.0.1:4433")));
    }

    #[test]
    fn timestamps_compare_across_the_wrap() {
        assert!(timestamp_fresh(u32::MAX - 5, 1 << 32, 10));
        assert!(timestamp_fresh(3, (1 << 32) - 4, 10));
        assert!(!timestamp_fresh(1_000, 2_000, 10));
    }

    #[test]
    fn impossible_configurations_are_errors() {
        let nothing = peer("ghost", &[], vec![], Side::Client);
        assert_eq!(
            PeerTable::new(vec![nothing]).err(),
            Some(PeerTableError::Unreachable("ghost".into()))
        );
        let a = peer(
            "a",
            &["10.0.0.1"],
            vec![AuthKey::new(1, [0; 16])],
            Side::Client,
        );
        let b = peer(
            "b",
            &["10.0.0.2"],
            vec![AuthKey::new(1, [2; 16])],
            Side::Client,
        );
        assert_eq!(
            PeerTable::new(vec![a.clone(), b]).err(),
            Some(PeerTableError::DuplicateKeyId(1))
        );
        assert_eq!(
            PeerTable::new(vec![a.clone(), a]).err(),
            Some(PeerTableError::DuplicateName("a".into()))
        );
    }
}
