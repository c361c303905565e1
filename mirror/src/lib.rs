//! # trickles-mirror: a stateless packet mirror with WAN emulation
//!
//! The Trickles paper sent its traffic out to packet mirrors on PlanetLab and back, so that a
//! client and a server at home saw a real wide-area path. This crate is that mirror. It keeps
//! no per-flow table: where a datagram goes is written in the datagram (an encapsulation
//! header naming the far end) and whom it may serve is written in the configuration.
//!
//! Map of the crate:
//! - [`wan`]: WAN emulation as a pure function of time — per-direction delay, jitter, random
//!   and bursty loss, duplication, reordering and rate, and the release queue;
//! - [`auth`]: configured peers, recognised by address and/or a shared-key tag;
//! - [`guard`]: per-source rate limits and the never-more-out-than-in byte budget;
//! - [`reject`]: the names of every refusal and emulated drop.

pub mod auth;
pub mod guard;
pub mod reject;
pub mod wan;
