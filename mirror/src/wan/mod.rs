//! WAN emulation: what a wide-area path does to the datagrams the mirror carries.
//!
//! The link model is the simulator's ([`trickles_link::Link`]): one [`Link`] per direction
//! applies, in order, a rate-limited bottleneck queue (serialization delay, tail drop),
//! bursty (Gilbert–Elliott) then independent loss, one-way delay plus uniform jitter,
//! reordering and duplication. We depend on it rather than re-implement it, so the simulator
//! and the mirror emulate exactly the same path for the same settings and seed.
//!
//! What the mirror adds is the part the simulator gets from its event queue: a bounded
//! [`ReleaseQueue`] holding each delayed datagram until its arrival time. Everything here
//! is a pure function of the packets offered, their times (`now` is an argument) and the seed:
//! the datapath reads the clock and calls in.
//!
//! - [`direction`]: which way a datagram travels (towards the server side or the client side);
//! - [`release_queue`]: datagrams ordered by release time, with packet and byte limits;
//! - [`emulator`]: one link per direction plus the release queue.

pub mod direction;
pub mod emulator;
pub mod release_queue;

pub use direction::Direction;
pub use emulator::{WanEmulator, WanProfile};
pub use release_queue::{QueueLimits, ReleaseQueue, ReleaseQueueFull};
pub use trickles_link::{GilbertElliott, Link, LinkConfig, LinkDropCause, LinkOutcome, LinkStats};
