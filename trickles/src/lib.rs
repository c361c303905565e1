//! # trickles: the sans-IO core of the Trickles stateless transport
//!
//! A Trickles server keeps no per-connection state. Everything it would remember travels to
//! the client inside a MAC-protected *continuation*; each client request hands one back and the
//! server recomputes its state from it, sends the next packets and fresh continuations. Any
//! replica holding the key can therefore resume any connection.
//!
//! This crate holds the whole protocol and no I/O: no sockets, no clocks, no threads. Time is
//! an argument ([`time::Instant`]), datagrams go in as byte slices and come out as
//! [`Transmit`]s. The drivers in `trickles-server` and `trickles-client` own the sockets.
//!
//! Map of the crate:
//! - [`wire`]: zero-copy views and `Repr`s for every packet family (see `docs/PROTOCOL.md`);
//! - [`crypto`]: the continuation MAC, key epochs, per-packet nonces;
//! - [`replay`]: the bounded soft-state replay filter;
//! - [`cc`]: closed-form congestion window and the stateless recovery arithmetic;
//! - [`server`]: the server step, a pure function of (key, continuation, proof, now);
//! - [`client`]: the stateful client connection (loss detection, RTO, receive buffer);
//! - [`sim`]: a deterministic network simulator driving both ends.

pub mod app;
pub mod cc;
pub mod client;
pub mod crypto;
pub mod replay;
pub mod server;
pub mod sim;
pub mod time;
pub mod transmit;
pub mod wire;

pub use transmit::Transmit;
