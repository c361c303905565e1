//! Per-source rate limits and the byte budget that keeps the mirror from amplifying.
//!
//! Two promises the mirror makes whatever its configuration says:
//! - **rate**: an authenticated source gets at most its packet and byte rates (token buckets);
//! - **no amplification**: the mirror never emits more bytes on a source's behalf than it has
//!   received from that source. Each datagram received credits its length to the source; every
//!   datagram emitted — the forwarded one and any duplicate the emulated path adds — spends its
//!   length. A duplicate is therefore only possible out of credit left by earlier datagrams the
//!   path lost (or that shrank on the way), which is exactly "never more out than in".
//!
//! The state is soft and bounded: a fixed table of slots, indexed by a keyed hash of the source
//! IP (ports are ignored: a source that changes ports is the same source). A slot remembers
//! which source it holds; a different source hashing to it takes it over (counted as an
//! eviction), starting with no credit and a full rate bucket. Losing a slot can only cost the
//! evicted source its unspent credit, never let anyone spend someone else's. Memory does not
//! grow with the number of sources, and the table could live in an XDP array map.

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;
use trickles_link::time::Instant;
use trickles_netfn::canonical_addr::canonical_ip;

use super::token_bucket::{BucketRate, TokenBucket};

/// The guard's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardLimits {
    /// Datagrams per second per source (`None`: unlimited).
    pub packets: Option<BucketRate>,
    /// Bytes per second per source (`None`: unlimited).
    pub bytes: Option<BucketRate>,
    /// Most unspent credit a source keeps, in bytes.
    pub credit_cap: u64,
    /// Slots in the table (rounded up to a power of two, at least 1).
    pub slots: usize,
}

impl Default for GuardLimits {
    /// Generous defaults: a loopback lab's whole load fits under them; a flood does not.
    fn default() -> Self {
        GuardLimits {
            packets: Some(BucketRate {
                per_second: 200_000,
                burst: 20_000,
            }),
            bytes: Some(BucketRate {
                per_second: 250_000_000,
                burst: 25_000_000,
            }),
            credit_cap: 1 << 20,
            slots: 16_384,
        }
    }
}

/// Why the guard refused a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited;

/// The slot a source was admitted in; spend its credit through [`SourceGuard::spend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    slot: usize,
    source: IpAddr,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    source: Option<IpAddr>,
    packets: TokenBucket,
    bytes: TokenBucket,
    credit: u64,
}

/// The bounded table of per-source buckets and credits.
#[derive(Clone, Debug)]
pub struct SourceGuard {
    slots: Vec<Slot>,
    hash_key: [u8; 16],
    limits: GuardLimits,
    evictions: u64,
}

const UNLIMITED: BucketRate = BucketRate {
    per_second: 0,
    burst: 0,
};

impl SourceGuard {
    /// An empty table with `limits`; `hash_key` keys the slot hash (random in production, so
    /// that nobody can aim sources at one slot).
    pub fn new(limits: GuardLimits, hash_key: [u8; 16]) -> Self {
        let count = limits.slots.max(1).next_power_of_two();
        let empty = Slot {
            source: None,
            packets: TokenBucket::full(UNLIMITED, Instant(0)),
            bytes: TokenBucket::full(UNLIMITED, Instant(0)),
            credit: 0,
        };
        SourceGuard {
            slots: vec![empty; count],
            hash_key,
            limits,
            evictions: 0,
        }
    }

    /// Replace the limits; sources keep their credit (capped anew as they are next seen).
    pub fn set_limits(&mut self, limits: GuardLimits) {
        if limits.slots.max(1).next_power_of_two() != self.slots.len() {
            *self = SourceGuard {
                evictions: self.evictions,
                ..SourceGuard::new(limits, self.hash_key)
            };
        } else {
            self.limits = limits;
        }
    }

    /// Sources that took over another source's slot, so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Memory held by the table, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    fn slot_of(&self, source: IpAddr) -> usize {
        let mut hasher = SipHasher13::new_with_key(&self.hash_key);
        match source {
            IpAddr::V4(ip) => hasher.write(&ip.octets()),
            IpAddr::V6(ip) => hasher.write(&ip.octets()),
        }
        // The table length is a power of two.
        (hasher.finish() as usize) & (self.slots.len() - 1)
    }

    /// Charge a datagram of `len` bytes from `source` at `now` to its rate limits and credit
    /// its length to the source's budget.
    pub fn admit(
        &mut self,
        now: Instant,
        source: IpAddr,
        len: usize,
    ) -> Result<Admitted, RateLimited> {
        let source = canonical_ip(source);
        let index = self.slot_of(source);
        let limits = self.limits;
        let slot = &mut self.slots[index];
        if slot.source != Some(source) {
            if slot.source.is_some() {
                self.evictions += 1;
            }
            *slot = Slot {
                source: Some(source),
                packets: TokenBucket::full(limits.packets.unwrap_or(UNLIMITED), now),
                bytes: TokenBucket::full(limits.bytes.unwrap_or(UNLIMITED), now),
                credit: 0,
            };
        }
        if let Some(rate) = limits.packets {
            if !slot.packets.take(rate, now, 1) {
                return Err(RateLimited);
            }
        }
        if let Some(rate) = limits.bytes {
            if !slot.bytes.take(rate, now, len as u64) {
                return Err(RateLimited);
            }
        }
        slot.credit = (slot.credit + len as u64).min(limits.credit_cap.max(len as u64));
        Ok(Admitted {
            slot: index,
            source,
        })
    }

    /// Spend `len` bytes of the admitted source's credit for a datagram about to be emitted;
    /// `false` (and nothing spent) when the credit is short.
    pub fn spend(&mut self, admitted: Admitted, len: usize) -> bool {
        let slot = &mut self.slots[admitted.slot];
        if slot.source != Some(admitted.source) || slot.credit < len as u64 {
            return false;
        }
        slot.credit -= len as u64;
        true
    }

    /// Whether the admitted source could spend `len` bytes now.
    pub fn has_credit(&self, admitted: Admitted, len: usize) -> bool {
        let slot = &self.slots[admitted.slot];
        slot.source == Some(admitted.source) && slot.credit >= len as u64
    }

    /// The unspent credit of `source`, in bytes (0 if it holds no slot).
    pub fn credit(&self, source: IpAddr) -> u64 {
        let source = canonical_ip(source);
        let slot = &self.slots[self.slot_of(source)];
        if slot.source == Some(source) {
            slot.credit
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn guard(limits: GuardLimits) -> SourceGuard {
        SourceGuard::new(limits, [5; 16])
    }

    fn unlimited() -> GuardLimits {
        GuardLimits {
            packets: None,
            bytes: None,
            ..GuardLimits::default()
        }
    }

    #[test]
    fn a_source_can_spend_what_it_sent_and_no_more() {
        let mut g = guard(unlimited());
        let a = g.admit(Instant(0), ip("10.0.0.1"), 1000).expect("admitted");
        assert!(g.spend(a, 1000));
        assert!(!g.spend(a, 1), "spent more than received");
        let b = g.admit(Instant(1), ip("10.0.0.1"), 500).expect("admitted");
        assert!(!g.spend(b, 501));
        assert!(g.spend(b, 300));
        assert!(g.spend(b, 200));
    }

    #[test]
    fn sources_do_not_share_credit() {
        let mut g = guard(GuardLimits {
            slots: 1, // everyone collides
            ..unlimited()
        });
        let a = g.admit(Instant(0), ip("10.0.0.1"), 1000).expect("admitted");
        let b = g.admit(Instant(0), ip("10.0.0.2"), 10).expect("admitted");
        assert_eq!(g.evictions(), 1);
        assert!(!g.spend(a, 1), "evicted source kept its slot");
        assert!(!g.spend(b, 11), "spent another source's credit");
        assert!(g.spend(b, 10));
    }

    #[test]
    fn packet_rate_limit_applies_per_source() {
        let mut g = guard(GuardLimits {
            packets: Some(BucketRate {
                per_second: 10,
                burst: 3,
            }),
            bytes: None,
            ..GuardLimits::default()
        });
        for _ in 0..3 {
            assert!(g.admit(Instant(0), ip("10.0.0.1"), 100).is_ok());
        }
        assert_eq!(g.admit(Instant(0), ip("10.0.0.1"), 100), Err(RateLimited));
        assert!(g.admit(Instant(0), ip("10.0.0.2"), 100).is_ok());
        assert!(g.admit(Instant(100_000), ip("10.0.0.1"), 100).is_ok());
    }

    #[test]
    fn byte_rate_limit_counts_bytes() {
        let mut g = guard(GuardLimits {
            packets: None,
            bytes: Some(BucketRate {
                per_second: 1_000_000,
                burst: 3_000,
            }),
            ..GuardLimits::default()
        });
        assert!(g.admit(Instant(0), ip("::1"), 2_000).is_ok());
        assert_eq!(g.admit(Instant(0), ip("::1"), 1_500), Err(RateLimited));
        assert!(g.admit(Instant(500), ip("::1"), 1_500).is_ok());
    }

    #[test]
    fn credit_is_capped() {
        let mut g = guard(GuardLimits {
            credit_cap: 1_500,
            ..unlimited()
        });
        for _ in 0..10 {
            g.admit(Instant(0), ip("10.0.0.1"), 1_000)
                .expect("admitted");
        }
        assert_eq!(g.credit(ip("10.0.0.1")), 1_500);
    }

    #[test]
    fn ipv4_mapped_source_is_the_ipv4_source() {
        let mut g = guard(unlimited());
        g.admit(Instant(0), ip("::ffff:10.0.0.1"), 100)
            .expect("admitted");
        assert_eq!(g.credit(ip("10.0.0.1")), 100);
    }
}
