//! [`BfdGate`]: what the BFD responder may answer Up for, set by the decision loop.
//!
//! The gate opens an address while an announcement behind it should be announced, and only
//! for a *lease*: the decision loop renews it after every round. If the loop stops (deadlock,
//! a wedged runtime) the lease runs out and the responder answers Down although its own thread
//! still runs; if the whole process is killed or stopped, nothing answers and BIRD's detection
//! time does the same.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Inner {
    open: HashSet<IpAddr>,
    lease_until: Option<Instant>,
}

/// Shared between the decision loop and the responder threads.
#[derive(Debug, Default)]
pub struct BfdGate {
    inner: Mutex<Inner>,
}

impl BfdGate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open exactly `addresses`, for `lease` from `now`.
    pub fn renew(
        &self,
        addresses: impl IntoIterator<Item = IpAddr>,
        now: Instant,
        lease: Duration,
    ) {
        let mut inner = self.lock();
        inner.open = addresses.into_iter().collect();
        inner.lease_until = Some(now + lease);
    }

    /// Close everything now (shutdown, drain).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.open.clear();
        inner.lease_until = None;
    }

    /// May a session at local address `local` be Up at `now`?
    pub fn allows(&self, local: IpAddr, now: Instant) -> bool {
        let inner = self.lock();
        inner.lease_until.is_some_and(|until| now < until) && inner.open.contains(&local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrenewed_lease_closes_the_gate() {
        let gate = BfdGate::new();
        let a: IpAddr = "198.18.255.2".parse().expect("ip");
        let t = Instant::now();
        assert!(!gate.allows(a, t));
        gate.renew([a], t, Duration::from_secs(1));
        assert!(gate.allows(a, t + Duration::from_millis(999)));
        assert!(!gate.allows(a, t + Duration::from_secs(1)));
        assert!(!gate.allows("2001:2::2".parse().expect("ip"), t));
    }
}
