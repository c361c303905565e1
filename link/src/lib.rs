//! # trickles-link: the path model
//!
//! One direction of a network path as a pure function of its seed and of the packets offered
//! to it: a packet and the time go in, a [`LinkOutcome`] (dropped, and why, or the arrival
//! time) comes out. Nothing here reads a clock or owns a socket.
//!
//! Two programs run the same model, so that what the simulator tests is what the WAN emulator
//! ships: the protocol's deterministic simulator (`trickles::sim`) and the packet mirror's WAN
//! emulation (`trickles-mirror`, `wan`). Neither links the other.
//!
//! Map of the crate:
//! - [`time`]: time as a value ([`time::Instant`], [`time::Duration`], microseconds), the clock
//!   type of the protocol core too (`trickles::time` is this module);
//! - [`loss`]: independent and Gilbert–Elliott bursty loss ([`GilbertElliott`]);
//! - [`link`](mod@link): one direction of a path — delay, jitter, rate and tail-drop queue, loss,
//!   reordering, duplication — with counters ([`Link`], [`LinkConfig`], [`LinkStats`]).
//!
//! ```
//! use rand::SeedableRng;
//! use trickles_link::time::{Duration, Instant};
//! use trickles_link::{Link, LinkConfig, LinkOutcome};
//!
//! let rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let mut link = Link::new(LinkConfig::with_delay(Duration::from_millis(20)), rng);
//! match link.transmit(Instant(0), 1200) {
//!     LinkOutcome::Delivered { at, .. } => assert_eq!(at, Instant(20_000)),
//!     LinkOutcome::Dropped(cause) => unreachable!("a perfect link dropped: {cause:?}"),
//! }
//! ```

pub mod link;
pub mod loss;
pub mod time;

pub use link::{Link, LinkConfig, LinkDropCause, LinkOutcome, LinkStats};
pub use loss::{GilbertElliott, GilbertElliottState};
