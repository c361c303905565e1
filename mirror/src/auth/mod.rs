//! Who may use the mirror: configured peers, recognised by address and/or a shared-key tag.
//!
//! - [`address_pattern`]: exact `ip:port` and prefix patterns, most specific first;
//! - [`peers`]: the peer table, source authentication and the destination check.
//!
//! The shared keys, their SipHash tag and the tag's option in the encapsulation header are
//! `trickles_netfn::mirror_auth`, which end hosts use to sign what they send here.

pub mod address_pattern;
pub mod peers;

pub use address_pattern::AddressPattern;
pub use peers::{Peer, PeerId, PeerTable, PeerTableError, Reach, Request, Side};
pub use trickles_netfn::mirror_auth::{AuthKey, AuthOption, MalformedOptions};
