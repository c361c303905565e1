//! A minimal BFD responder (RFC 5880 asynchronous mode, RFC 5881 single hop) that holds BIRD's
//! BFD-guarded static routes up only while the controller is alive, its decision loop running
//! and the site healthy.
//!
//! Written here because no maintained Rust crate offers a BFD session (searched crates.io in
//! 2026: only packet dissectors such as `packet-dissector-bfd`; no session state machine
//! published). What is needed is small: passive sessions, no authentication, no echo, no
//! demand mode.
//!
//! - [`packet`]: the control packet ([`packet::ControlRepr`], offsets in [`packet::field`]);
//! - [`session`]: one session's state machine, sans-IO ([`session::Session`]);
//! - [`gate`]: the lease the decision loop renews ([`gate::BfdGate`]);
//! - [`responder`]: the thread and socket per address ([`responder::Responder`]).

pub mod gate;
pub mod packet;
pub mod responder;
pub mod session;

pub use gate::BfdGate;
pub use responder::Responder;
