//! Cryptography of the core: the continuation MAC, key epochs and per-packet nonces.
//!
//! A Trickles server is a function of (packet, key): everything it must trust comes back from
//! the client under a MAC made with a secret shared by the replicas of a pool. This module holds
//! that secret and everything derived from it.
//!
//! - [`Key`] is one *key epoch*: from a 32-byte secret and the epoch number it derives
//!   (HKDF-SHA256, see `kdf.rs`) a MAC key and a nonce key. [`Key::tag`] / [`Key::verify`]
//!   seal and open continuations with **SipHash-2-4 with 128-bit output**, chosen by benchmark
//!   (`benches/mac_choice.rs`, figures in `docs/MAC-CHOICE.md`). [`Key::mac_prefix`] absorbs
//!   a prefix shared by several continuations once.
//! - [`KeyRing`] is what a replica accepts: the current epoch (used to seal) and optionally the
//!   previous one, so a pool rotates its secret without dropping connections.
//! - Nonces ([`Key::packet_nonce`], [`Key::range_nonce`]) stop optimistic acknowledgement: packet
//!   `seq` carries `r(seq) ^ r(seq+1)`, where `r` is a per-connection pseudo-random stream, so a
//!   contiguous block of packets is proven by one constant-time value `r(left) ^ r(right+1)`.

mod kdf;
mod key;
mod key_ring;
mod mac;
mod nonce;

pub use key::Key;
pub use key_ring::KeyRing;
pub use mac::MacPrefix;

/// Length of a key epoch's secret, in bytes.
pub const SECRET_LEN: usize = 32;

/// Length of a continuation MAC tag, in bytes.
pub const TAG_LEN: usize = 16;
