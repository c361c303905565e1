//! [`Published`]: the value in force (a configuration, a forwarding table), swapped by the control
//! plane and read by datapath workers without a lock on the packet path.
//!
//! A publish stores a new `Arc` and bumps a generation number. A worker keeps a [`Subscriber`],
//! which compares the generation (one atomic load) before each batch and takes the lock only
//! when it changed. A worker that is in the middle of a batch finishes it with the value it
//! started with: a swap never drops or splits a batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The current value and its generation.
#[derive(Debug)]
pub struct Published<T> {
    generation: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Published<T> {
    /// Publish `value` as generation 0.
    pub fn new(value: T) -> Self {
        Published {
            generation: AtomicU64::new(0),
            value: Mutex::new(Arc::new(value)),
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.lock().clone()
    }

    /// Replace the value; returns the new generation.
    pub fn publish(&self, value: T) -> u64 {
        let mut slot = self.lock();
        *slot = Arc::new(value);
        // Bumped under the lock, so a reader that sees the new generation under the lock
        // also sees the new value.
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The value and its generation, read together.
    pub fn snapshot(&self) -> (u64, Arc<T>) {
        let slot = self.lock();
        (self.generation(), slot.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<T>> {
        // A panic while holding the lock cannot leave an Arc half-written.
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A worker's view of a [`Published`] value, refreshed when the generation changes.
#[derive(Debug)]
pub struct Subscriber<T> {
    source: Arc<Published<T>>,
    seen: u64,
    current: Arc<T>,
}

impl<T> Subscriber<T> {
    /// Follow `source`, starting from its current value.
    pub fn new(source: Arc<Published<T>>) -> Self {
        let (seen, current) = source.snapshot();
        Subscriber {
            source,
            seen,
            current,
        }
    }

    /// Pick up a newer value if there is one (one atomic load when there is not); returns true
    /// when the value changed.
    pub fn refresh(&mut self) -> bool {
        if self.source.generation() == self.seen {
            return false;
        }
        let (seen, current) = self.source.snapshot();
        self.seen = seen;
        self.current = current;
        true
    }

    /// The value as of the last refresh.
    pub fn current(&self) -> &Arc<T> {
        &self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_sees_a_publish_only_after_refresh() {
        let published = Arc::new(Published::new(1));
        let mut reader = Subscriber::new(published.clone());
        assert!(!reader.refresh());
        assert_eq!(published.publish(2), 1);
        assert_eq!(**reader.current(), 1, "mid-batch value is kept");
        assert!(reader.refresh());
        assert_eq!(**reader.current(), 2);
        assert!(!reader.refresh());
    }
}
