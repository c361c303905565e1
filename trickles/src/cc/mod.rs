//! # Closed-form congestion control
//!
//! A Trickles server keeps no congestion-control block. Each request hands back a continuation
//! carrying three numbers, [`WindowParams`] (`tcp_base`, `start_cwnd`, `ssthresh`), and the
//! server recomputes from them, and from the sequence number `k` being acknowledged, the window
//! TCP Reno would have at that point: [`WindowParams::cwnd`], the closed form `TCPCwnd(k)` of
//! §3.3 of `TRICKLES-REFERENCE.md`. Requests for different packets of one window are handled
//! independently, maybe by different replicas, so everything here is a pure, integer-exact
//! function of its arguments: every replica computes the same answer.
//!
//! On top of the closed form:
//! - [`normal_step`] (§3.2): what a request acknowledging packet `k` releases in the normal
//!   state: one packet to keep its trickle alive, two when the window grows (a split);
//! - [`recovery_plan`] (§3.7): the stateless fast recovery every request that sees the same
//!   first loss agrees on: the halved window, and which acks release its packets;
//! - [`slow_start_plan`] (§3.8): the restart at two packets after a retransmission timeout;
//! - [`reno_model`]: a per-ack Reno/NewReno sender, the reference the closed form is tested
//!   against (`tests/it/cwnd_matches_reno.rs`) and that the simulator can compare traces with.
//!
//! ## Choices (departures from, and readings of, the reference)
//! - **FULL1 only**: one request per received packet (no FULL2/MINIMAL pairing), so `first = k`
//!   in §3.2 and `adj = 0` in §3.7.
//! - **No `ACKTCP_CWND_SPEED_HACK`**: the window grows per ack, as Reno's does.
//! - **The "one ack late" convention is kept**: `cwnd(k)` is the window after the acks of
//!   `tcp_base..k`, *excluding* `k` itself, and the request for `k` releases up to
//!   `k + cwnd(k)`. So the acknowledgement of `tcp_base` (the SYN/ACK at the start of a
//!   connection) grows the window only from the next request on. The three test vectors of
//!   §3.3 fix this reading; [`reno_model`] spells out the equivalent Reno sender.
//! - **Acks below `tcp_base`**: `cwnd(k)` for `k < tcp_base` is the epoch's start window. That
//!   is the `prev` §3.2 uses for the request of `tcp_base` itself, and the window a slow-start
//!   restart must halve when the client holds nothing of the current epoch yet (`right =
//!   tcp_base - 1`, e.g. a timeout just after a recovery). [`normal_step`] refuses `k <
//!   tcp_base`: no packet of an epoch has a sequence number below its base.
//! - **Clamp**: every window, the start window included, is clamped to [`MAX_CWND`].
//! - **Empty windows**: `start_cwnd == 0` describes an epoch that released nothing, so nothing
//!   of it can be acknowledged: [`normal_step`] returns `None` for it.
//! - **Floor of 2 (RFC 5681) instead of the reference's `newCwnd == 0` hack.** After a timeout,
//!   `ssthresh = max(cwnd/2, 2)`: `ssthresh` only says where slow start ends, so any floor is
//!   consistent. After a fast retransmit, `new_cwnd = max(cwnd/2, 2)` *capped at* `flight - 1`
//!   (`flight = cwnd(first_loss - 1)`, the packets the old window had out from the loss on).
//!   The post-loss packets are released by the acks `[last_regular - new_cwnd, last_regular -
//!   1]`, and only acks from `first_loss` on are still to come (what the acks of a hole would
//!   release is emitted by the request that retransmits it); a window above `flight - 1` would
//!   promise packets no request ever releases, a hole the client would take for a loss. So:
//!   with two or more packets after the lost one (`flight >= 3`) the floor of 2 holds (the
//!   reference gives 1 for `cwnd <= 3`); with one (`flight == 2`) the window is 1, as in the
//!   reference; when the lost packet was the only one in flight, `new_cwnd == 0`: nothing is
//!   bootstrapped and the connection takes the timeout path, as TCP's would (the reference's
//!   hack halves `ssthresh` instead, for a window no packet ever carries). Loss detection
//!   needs three packets after the hole, so in practice `new_cwnd = max(cwnd/2, 2)`.
//! - **Recovery timing**: each post-loss packet is released one ack earlier than a sender
//!   holding `new_cwnd` packets beyond the highest one delivered would release it (§3.7's
//!   `bootstrapStart = last_regular - new_cwnd`); the reference's worked example fixes this.
//! - **No panics, no wraparound**: sequence numbers are u64 and never wrap; sums saturate
//!   (only reachable with sequence numbers near 2^64, which a connection never reaches), the
//!   emitted range is checked, and the square root runs on values below 2^30 (beyond the
//!   point where the window has reached [`MAX_CWND`] the answer is known without it).

mod closed_form;
mod normal_step;
mod recovery;
pub mod reno_model;
mod slow_start;

pub use closed_form::WindowParams;
pub use normal_step::normal_step;
pub use recovery::{recovery_plan, RecoveryPlan};
pub use slow_start::{slow_start_plan, SlowStartPlan};

/// Largest window, in packets. Every computed window is clamped to it.
pub const MAX_CWND: u32 = 8191;
/// Start window of a connection whose HELLO carried the request.
pub const INITIAL_CWND: u32 = 3;
/// Start window after a slow-start restart (timeout).
pub const SLOWSTART_CWND: u32 = 2;
/// `ssthresh` of a new connection: effectively no ceiling on slow start (it exceeds
/// [`MAX_CWND`]).
pub const INITIAL_SSTHRESH: u32 = 0x3FFF;
/// A request releasing more packets than this is refused (it cannot happen for windows
/// computed here, which grow by at most one per ack).
pub const MAX_PACKETS_PER_REQUEST: u64 = 5;
/// Largest hole, in packets, the server retransmits in one request; larger holes are left to
/// the timeout path.
pub const MAX_GAP: u64 = 20;
/// Highest slow-start restart attempt number a server accepts by default (one continuation can
/// restart the window this many times plus one, each at least `min_restart_age · 2^attempt` old).
pub const MAX_RESTART_ATTEMPT: u8 = 12;
/// Floor on `ssthresh` after a loss or timeout (RFC 5681's `2 * SMSS`, in packets).
pub const MIN_SSTHRESH: u32 = 2;
