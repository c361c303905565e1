//! How a host proves to a packet mirror that a datagram is its own: a shared key and the tag it
//! computes, carried as an option of the encapsulation header ([`crate::encap`]).
//!
//! The mirror checks the tag; an end host (the client's `--via`, the tunnel endpoint) writes it
//! through [`crate::mirror_shim`]. Both use the types here, so neither links the other.
//!
//! - [`key`]: shared keys ([`AuthKey`]) and the SipHash tag;
//! - [`option`]: the tag's option in the encapsulation header ([`AuthOption`]) and padding.

pub mod key;
pub mod option;

pub use key::{AuthKey, KeySecretError, SECRET_LEN};
pub use option::{padding, AuthOption, MalformedOptions, AUTH_OPTION_LEN};
