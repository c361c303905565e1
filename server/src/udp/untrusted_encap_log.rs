//! [`UntrustedEncapLog`]: says why encapsulated datagrams are dropped as `untrusted_encap`.
//!
//! A replica believes an encapsulation header only from the balancers it is told to trust
//! (`--balancer`, [`super::balancer_relay`]). A new user easily lists the wrong addresses: a
//! balancer in `direct_return` mode forwards from its VIP (its listen address), not from
//! another address of its host. Every request is then dropped, counted only in a metric, and
//! the client times out with nothing. So the first refusal, and then one every
//! [`LOG_EVERY`], is logged with the refused source, what the replica trusts, and the likely
//! fix. The check is one atomic load, so a flood of untrusted datagrams costs no lock.
//!
//! With a pool key, datagrams refused for their hop tag (`missing_tag`, `bad_tag`,
//! `stale_tag`) are logged the same way, under the same limit, naming the source
//! ([`UntrustedEncapLog::refused_tag`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use trickles::time::{Duration, Instant};

/// Least time between two log lines.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Rate-limited warnings about untrusted encapsulated datagrams, shared by the workers.
#[derive(Debug, Default)]
pub struct UntrustedEncapLog {
    /// Microseconds before which nothing more is logged.
    quiet_until: AtomicU64,
    /// Refusals since the last line.
    refused_since: AtomicU64,
}

impl UntrustedEncapLog {
    /// A datagram from `source` was refused; `trusted` is the list in force. Logs (and returns)
    /// the explanation unless one was logged within [`LOG_EVERY`].
    pub fn refused(
        &self,
        now: Instant,
        source: SocketAddr,
        trusted: &[SocketAddr],
    ) -> Option<String> {
        let refused = self.admit(now)?;
        let message = explanation(source, trusted, refused);
        tracing::warn!("{message}");
        Some(message)
    }

    /// A datagram from `source` was refused for its hop tag (`reason`). Logs (and returns) a
    /// line unless one was logged within [`LOG_EVERY`].
    pub fn refused_tag(&self, now: Instant, source: SocketAddr, reason: &str) -> Option<String> {
        let refused = self.admit(now)?;
        let message = format!(
            "dropped {refused} encapsulated datagram(s), the last from {source} ({reason}): the \
             pool key requires the balancer's hop tag (missing_tag: the sender has no pool key; \
             bad_tag: another key or a forged header; stale_tag: clocks more than {} s apart); \
             further drops are summed and logged every {} s",
            super::balancer_relay::MAX_SKEW_SECS,
            LOG_EVERY.micros() / 1_000_000
        );
        tracing::warn!("{message}");
        Some(message)
    }

    /// Count a refusal; `Some(refusals since the last line)` when a line may be logged now.
    fn admit(&self, now: Instant) -> Option<u64> {
        let refused = self.refused_since.fetch_add(1, Ordering::Relaxed) + 1;
        let quiet_until = self.quiet_until.load(Ordering::Relaxed);
        if now.micros() < quiet_until {
            return None;
        }
        let next = (now + LOG_EVERY).micros();
        if self
            .quiet_until
            .compare_exchange(quiet_until, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        self.refused_since.store(0, Ordering::Relaxed);
        Some(refused)
    }
}

/// The log line for a refusal from `source`.
pub fn explanation(source: SocketAddr, trusted: &[SocketAddr], refused: u64) -> String {
    let trusts = if trusted.is_empty() {
        "no balancer (no --balancer / `balancers:` given)".to_owned()
    } else {
        trusted
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "dropped {refused} encapsulated datagram(s) (untrusted_encap) from {source}: this replica \
         trusts the encapsulation header only from {trusts}. If {source} is a trickles-balancer, \
         add it with --balancer {source} (a balancer in direct_return mode forwards from its VIP, \
         its listen address); further drops are summed and logged every {} s",
        LOG_EVERY.micros() / 1_000_000
    )
}

/// The start-up hint for a replica trusting `balancers`.
pub fn startup_hint(balancers: &[SocketAddr]) -> Option<String> {
    if balancers.is_empty() {
        return None;
    }
    let list = balancers
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "trusting encapsulated datagrams only from {list}: these must be the addresses the \
         balancers send from (in direct_return mode, the VIP they listen on); others are \
         dropped as untrusted_encap and logged"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn refusal_names_the_source_and_the_trusted_list_once_per_interval() {
        let log = UntrustedEncapLog::default();
        let trusted = [addr("198.18.0.1:4433"), addr("[2001:2::1]:4433")];
        let vip = addr("198.18.0.100:4433");
        let t0 = Instant(1_000_000_000);
        let first = log
            .refused(t0, vip, &trusted)
            .expect("the first refusal is logged");
        assert!(first.contains("from 198.18.0.100:4433"), "{first}");
        assert!(
            first.contains("198.18.0.1:4433, [2001:2::1]:4433"),
            "{first}"
        );
        assert!(first.contains("--balancer 198.18.0.100:4433"), "{first}");
        for i in 1..1_000 {
            assert!(log.refused(t0 + Duration(i), vip, &trusted).is_none());
        }
        let later = log
            .refused(t0 + LOG_EVERY, vip, &trusted)
            .expect("logged again after the interval");
        assert!(later.starts_with("dropped 1000 encapsulated"), "{later}");
    }

    #[test]
    fn a_replica_trusting_nobody_says_so() {
        let message = explanation(addr("[::1]:9"), &[], 1);
        assert!(message.contains("no balancer"), "{message}");
        assert_eq!(startup_hint(&[]), None);
        let hint = startup_hint(&[addr("127.0.0.1:4433")]).expect("hint");
        assert!(
            hint.contains("127.0.0.1:4433") && hint.contains("VIP"),
            "{hint}"
        );
    }

    #[test]
    fn a_tag_refusal_names_the_source_and_the_reason() {
        let log = UntrustedEncapLog::default();
        let t0 = Instant(1_000_000_000);
        let line = log
            .refused_tag(t0, addr("198.18.0.66:4433"), "bad_tag")
            .expect("logged");
        assert!(line.contains("198.18.0.66:4433 (bad_tag)"), "{line}");
        assert!(log
            .refused_tag(t0, addr("198.18.0.66:4433"), "bad_tag")
            .is_none());
    }
}
