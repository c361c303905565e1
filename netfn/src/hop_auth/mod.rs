//! How the hops inside a pool prove themselves: a balancer to its replicas, a replica to its
//! balancer (`docs/NETWORK-FUNCTIONS.md` §2.2).
//!
//! Without it a replica believes an encapsulation header only because of the datagram's source
//! address, and a balancer believes a reply only because it comes from a backend's address:
//! whoever can send from (or spoof) one of those addresses names any client, asks for direct
//! return, or names any VIA relay for the replies. With a *pool key* (one shared secret per
//! pool: the balancer and all its replicas) every balancer → replica datagram and every relayed
//! replica → balancer reply carries the mirror's auth option (type `0x4D`: key id, timestamp,
//! SipHash-2-4 tag), here computed over the header fields the receiver acts on: the direction,
//! the flags, the client (peer), the balancer's address (the VIP) and the VIA relay, with a
//! coarse timestamp so a captured header stops working after [`MAX_SKEW_SECS`].
//!
//! - [`key_file`]: the pool key file ([`PoolKey::load`]);
//! - [`tag`]: the tag's exact input ([`HopTag`]), signing and checking a header.

pub mod key_file;
pub mod tag;

pub use key_file::{PoolKey, PoolKeyError};
pub use tag::{
    check, sign_header, unix_now, Direction, HopRefusal, HopTag, MAX_SKEW_SECS, TAGGED_HEADER_MAX,
};
