//! Who may use the mirror: configured peers, recognised by address and/or a shared-key tag.
//!
//! - [`address_pattern`]: exact `ip:port` and prefix patterns, most specific first;
//! - [`key`]: shared keys and the SipHash tag;
//! - [`auth_option`]: the tag's option in the encapsulation header (and padding);
//! - [`peers`]: the peer table, source authentication and the destination check.

pub mod address_pattern;
pub mod auth_option;
pub mod key;
pub mod peers;

pub use address_pattern::{canonical, AddressPattern};
pub use auth_option::{AuthOption, MalformedOptions};
pub use key::AuthKey;
pub use peers::{Peer, PeerId, PeerTable, PeerTableError, Reach, Request, Side};
