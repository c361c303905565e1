//! Why the mirror refused a datagram: one name per cause, in one place.
//!
//! These are the mirror's own refusals (policy), counted as
//! `trickles_mirror_rejects_total{reason}`. Datagrams the *emulated path* loses are not
//! refusals; they are counted apart, by [`EmulatedDrop`], as
//! `trickles_mirror_emulated_drops_total{direction,cause}`. A refused datagram produces
//! nothing at all: the mirror never answers a sender it does not forward for.

use trickles_link::LinkDropCause;

/// Why a received datagram was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// No encapsulation header, or a malformed one (bad magic, version, family, length,
    /// options).
    Malformed,
    /// Longer than the receive buffer.
    Truncated,
    /// A source address family other than IPv4 and IPv6.
    AddressFamily,
    /// The source matches no configured peer and carries no authentication option.
    UnknownSource,
    /// The source matches a peer that has keys, but the datagram carries no tag.
    MissingTag,
    /// The tag names a key id no peer has, or a keyed peer from an address it may not use.
    UnknownKey,
    /// The tag does not verify.
    BadTag,
    /// The tag's timestamp is outside the accepted clock skew.
    StaleTag,
    /// The named destination is not one this source may reach.
    DestinationNotAllowed,
    /// The named destination is the mirror itself.
    Loop,
    /// The source is over its packet or byte rate.
    RateLimited,
    /// Forwarding would emit more bytes than the source has sent.
    Amplification,
}

impl Reject {
    /// Every reason, in index order.
    pub const ALL: [Reject; 12] = [
        Reject::Malformed,
        Reject::Truncated,
        Reject::AddressFamily,
        Reject::UnknownSource,
        Reject::MissingTag,
        Reject::UnknownKey,
        Reject::BadTag,
        Reject::StaleTag,
        Reject::DestinationNotAllowed,
        Reject::Loop,
        Reject::RateLimited,
        Reject::Amplification,
    ];

    /// Number of reasons (size of per-reason counter arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// Position in per-reason arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The metrics label.
    pub const fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::Truncated => "truncated",
            Reject::AddressFamily => "address_family",
            Reject::UnknownSource => "unknown_source",
            Reject::MissingTag => "missing_tag",
            Reject::UnknownKey => "unknown_key",
            Reject::BadTag => "bad_tag",
            Reject::StaleTag => "stale_tag",
            Reject::DestinationNotAllowed => "destination_not_allowed",
            Reject::Loop => "loop",
            Reject::RateLimited => "rate_limited",
            Reject::Amplification => "amplification",
        }
    }
}

/// Why the emulated path (not the mirror's policy) lost a datagram or a copy of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EmulatedDrop {
    /// The emulated bottleneck buffer was full (tail drop at the configured rate).
    BottleneckFull,
    /// Independent random loss.
    RandomLoss,
    /// Gilbert–Elliott bursty loss.
    BurstLoss,
    /// The release queue (datagrams held for their delay) was at its limit.
    DelayQueueFull,
    /// A duplicate copy the link asked for, suppressed because the source's byte budget
    /// (never more out than in) had no room for it.
    DuplicateOverBudget,
}

impl EmulatedDrop {
    /// Every cause, in index order.
    pub const ALL: [EmulatedDrop; 5] = [
        EmulatedDrop::BottleneckFull,
        EmulatedDrop::RandomLoss,
        EmulatedDrop::BurstLoss,
        EmulatedDrop::DelayQueueFull,
        EmulatedDrop::DuplicateOverBudget,
    ];

    /// Number of causes.
    pub const COUNT: usize = Self::ALL.len();

    /// Position in per-cause arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The metrics label.
    pub const fn name(self) -> &'static str {
        match self {
            EmulatedDrop::BottleneckFull => "bottleneck_full",
            EmulatedDrop::RandomLoss => "random_loss",
            EmulatedDrop::BurstLoss => "burst_loss",
            EmulatedDrop::DelayQueueFull => "delay_queue_full",
            EmulatedDrop::DuplicateOverBudget => "duplicate_over_budget",
        }
    }

    /// The cause of a link's drop. (Scripted drops are a simulator feature the mirror does
    /// not configure; should one occur it counts as random loss.)
    pub const fn from_link(cause: LinkDropCause) -> Self {
        match cause {
            LinkDropCause::QueueFull => EmulatedDrop::BottleneckFull,
            LinkDropCause::BurstLoss => EmulatedDrop::BurstLoss,
            LinkDropCause::RandomLoss | LinkDropCause::Scripted => EmulatedDrop::RandomLoss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_positions_and_names_are_distinct() {
        for (i, reason) in Reject::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        for (i, cause) in EmulatedDrop::ALL.iter().enumerate() {
            assert_eq!(cause.index(), i);
        }
        let mut names: Vec<&str> = Reject::ALL.iter().map(|r| r.name()).collect();
        names.extend(EmulatedDrop::ALL.iter().map(|c| c.name()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
