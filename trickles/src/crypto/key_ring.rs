//! The key epochs a replica accepts: the current one, which seals, and optionally the previous
//! one, which still opens continuations sealed before the last rotation.
//!
//! Rotating a pool: a continuation sealed under the new epoch by a replica that has already
//! rotated may reach one that has not. To drop nothing, roll out in two stages. Stage one gives
//! every replica the new key as an accepted, non-sealing key: `KeyRing::with_previous(old, new)`
//! (the second slot is matched by epoch number, so it may hold the *next* key as well as the
//! previous one). Stage two, once every replica has the new key, makes it current:
//! `KeyRing::with_previous(new, old)`, or [`KeyRing::rotate`] from a plain ring.
//!
//! A previous key must not open continuations for ever (a key that leaks after its rotation
//! would still forge them): [`KeyRing::retire_previous_at`] gives it a retirement time, one
//! freshness period (plus the allowed clock skew) after the promotion, when every continuation
//! it sealed has gone stale anyway. [`KeyRing::opener`] honours it. A retired key still checks
//! the acknowledgement nonces of connections that began under it ([`KeyRing::get`]): nonces
//! only prove receipt, they authenticate nothing the server acts on alone.

use super::Key;
use crate::time::Instant;

/// The keys a replica accepts: the current epoch (used to seal) and optionally the previous one.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: Key,
    previous: Option<Key>,
    /// From this time on the previous key no longer opens continuations.
    previous_retires_at: Option<Instant>,
}

impl KeyRing {
    /// A ring that accepts only `current`.
    pub fn new(current: Key) -> Self {
        KeyRing {
            current,
            previous: None,
            previous_retires_at: None,
        }
    }

    /// A ring that seals with `current` and also opens continuations of `previous`.
    pub fn with_previous(current: Key, previous: Key) -> Self {
        KeyRing {
            current,
            previous: Some(previous),
            previous_retires_at: None,
        }
    }

    /// The ring with its previous key opening continuations only before `at` (a staged next
    /// key, which has no retirement time, is accepted until it is promoted).
    pub fn retire_previous_at(mut self, at: Instant) -> Self {
        self.previous_retires_at = Some(at);
        self
    }

    /// When the previous key stops opening continuations, if it ever does.
    pub fn previous_retires_at(&self) -> Option<Instant> {
        self.previous_retires_at
    }

    /// The key that opens a continuation of epoch `epoch` at `now`: the current key, or the
    /// previous one before its retirement.
    pub fn opener(&self, epoch: u8, now: Instant) -> Option<&Key> {
        if self.current.epoch() == epoch {
            return Some(&self.current);
        }
        let retired = self.previous_retires_at.is_some_and(|at| now >= at);
        self.previous
            .as_ref()
            .filter(|key| key.epoch() == epoch && !retired)
    }

    /// The key that seals new continuations.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// The key of epoch `epoch`, if this ring holds it (retired or not: this is the nonce key
    /// lookup; continuations are opened with [`KeyRing::opener`]). The current key wins if both
    /// keys carry the same epoch number.
    pub fn get(&self, epoch: u8) -> Option<&Key> {
        if self.current.epoch() == epoch {
            return Some(&self.current);
        }
        self.previous.as_ref().filter(|key| key.epoch() == epoch)
    }

    /// Make `next` current; the old current becomes previous (and the old previous is
    /// forgotten). `next` should carry a new epoch number: if it reuses the current one, the
    /// old key can no longer be selected.
    pub fn rotate(&mut self, next: Key) {
        let old = core::mem::replace(&mut self.current, next);
        self.previous = Some(old);
        self.previous_retires_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SECRET_LEN;

    fn key(epoch: u8) -> Key {
        Key::from_secret(epoch, &[epoch; SECRET_LEN])
    }

    #[test]
    fn new_ring_accepts_only_its_current_epoch() {
        let ring = KeyRing::new(key(1));
        assert_eq!(ring.current().epoch(), 1);
        assert!(ring.get(1).is_some());
        assert!(ring.get(0).is_none());
        assert!(ring.get(2).is_none());
    }

    #[test]
    fn rotation_keeps_the_previous_epoch_and_forgets_the_one_before() {
        let mut ring = KeyRing::new(key(1));
        let sealed_under_1 = ring.current().tag(&[b"continuation"]);
        ring.rotate(key(2));
        assert_eq!(ring.current().epoch(), 2);
        let opener = ring
            .get(1)
            .map(|k| k.verify(&[b"continuation"], &sealed_under_1));
        assert_eq!(opener, Some(true));
        ring.rotate(key(3));
        assert!(ring.get(1).is_none());
        assert!(ring.get(2).is_some());
        assert!(ring.get(3).is_some());
    }

    #[test]
    fn with_previous_opens_both_and_seals_with_current() {
        let ring = KeyRing::with_previous(key(5), key(4));
        assert_eq!(ring.current().epoch(), 5);
        assert_eq!(ring.get(4).map(Key::epoch), Some(4));
        assert_eq!(ring.get(5).map(Key::epoch), Some(5));
        assert!(ring.get(6).is_none());
    }

    #[test]
    fn previous_key_opens_until_its_retirement_and_still_checks_nonces_after() {
        let ring = KeyRing::with_previous(key(5), key(4)).retire_previous_at(Instant(1_000));
        assert_eq!(ring.opener(4, Instant(999)).map(Key::epoch), Some(4));
        assert!(ring.opener(4, Instant(1_000)).is_none());
        assert_eq!(ring.opener(5, Instant(u64::MAX)).map(Key::epoch), Some(5));
        assert_eq!(ring.get(4).map(Key::epoch), Some(4));
    }

    #[test]
    fn previous_key_without_a_retirement_time_opens_for_ever() {
        let ring = KeyRing::with_previous(key(5), key(6));
        assert_eq!(ring.opener(6, Instant(u64::MAX)).map(Key::epoch), Some(6));
    }

    #[test]
    fn debug_of_a_ring_hides_secrets() {
        let ring = KeyRing::with_previous(key(5), key(4));
        let shown = format!("{ring:?}");
        assert!(!shown.contains('['), "{shown}");
    }
}
