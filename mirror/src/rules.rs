//! [`MirrorRules`]: everything the mirror's decisions depend on besides the datagram itself —
//! the validated configuration, swapped as a whole on reload.

use crate::auth::PeerTable;
use crate::guard::GuardLimits;
use crate::wan::{QueueLimits, WanProfile};

/// Default accepted difference between a tag's timestamp and the mirror's clock.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 30;

/// The rules a [`crate::mirror::Mirror`] applies.
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorRules {
    /// Who may use the mirror, and to reach whom.
    pub peers: PeerTable,
    /// The emulated path.
    pub wan: WanProfile,
    /// Bounds of the queue of delayed datagrams.
    pub delay_queue: QueueLimits,
    /// Per-source rate limits and budget.
    pub guard: GuardLimits,
    /// Largest accepted difference between a tag's timestamp and the clock, in seconds.
    pub max_clock_skew_secs: u64,
}

impl MirrorRules {
    /// Rules for `peers` with a perfect path and default limits.
    pub fn new(peers: PeerTable) -> Self {
        MirrorRules {
            peers,
            wan: WanProfile::default(),
            delay_queue: QueueLimits::default(),
            guard: GuardLimits::default(),
            max_clock_skew_secs: DEFAULT_MAX_CLOCK_SKEW_SECS,
        }
    }
}
