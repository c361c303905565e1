//! Time as a value: [`Instant`] and [`Duration`] in microseconds. The core never reads a clock;
//! drivers pass the wall-clock time in microseconds since the UNIX epoch, the simulator passes
//! its virtual clock.
//!
//! Server timestamps travel inside continuations and are compared by *other* replicas, so
//! replicas of one pool need loosely synchronised clocks (well within the freshness limit).
//!
//! The types are defined with the path model (`trickles_link::time`), which the simulator and
//! the packet mirror share, so that one clock type runs through the protocol, the simulated
//! links and the mirror's WAN emulation.

pub use trickles_link::time::{Duration, Instant};
