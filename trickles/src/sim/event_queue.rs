//! A deterministic priority queue of timed events.
//!
//! Events are ordered by their time and, among events scheduled for the same instant, by the
//! order in which they were pushed. That makes the order *total*: two runs that push the same
//! events in the same order pop them in the same order, whatever the event type is. Nothing here
//! depends on hashing or on the payload's own ordering.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::Instant;

/// One queued event with its ordering key.
#[derive(Debug)]
struct Entry<E> {
    at: Instant,
    insertion: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.insertion == other.insertion
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap `BinaryHeap` pops the earliest entry first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.insertion).cmp(&(self.at, self.insertion))
    }
}

/// Timed events popped in (time, insertion order) order.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_insertion: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_insertion: 0,
        }
    }

    /// Schedule `event` at `at`. Among events at the same time, earlier pushes pop first.
    pub fn push(&mut self, at: Instant, event: E) {
        let insertion = self.next_insertion;
        self.next_insertion += 1;
        self.heap.push(Entry {
            at,
            insertion,
            event,
        });
    }

    /// Time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|entry| entry.at)
    }

    /// Remove and return the earliest event with its time.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.heap.pop().map(|entry| (entry.at, entry.event))
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pop_in_time_order() {
        let mut queue = EventQueue::new();
        queue.push(Instant(30), "c");
        queue.push(Instant(10), "a");
        queue.push(Instant(20), "b");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![(Instant(10), "a"), (Instant(20), "b"), (Instant(30), "c")]
        );
    }

    #[test]
    fn simultaneous_events_pop_in_insertion_order() {
        let mut queue = EventQueue::new();
        for label in ["first", "second", "third", "fourth"] {
            queue.push(Instant(5), label);
        }
        queue.push(Instant(1), "earliest");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|(_, e)| e).collect();
        assert_eq!(
            order,
            vec!["earliest", "first", "second", "third", "fourth"]
        );
    }

    #[test]
    fn peek_time_reports_the_earliest_event() {
        let mut queue = EventQueue::new();
        assert_eq!(queue.peek_time(), None);
        queue.push(Instant(7), ());
        queue.push(Instant(3), ());
        assert_eq!(queue.peek_time(), Some(Instant(3)));
        assert_eq!(queue.len(), 2);
        queue.pop();
        queue.pop();
        assert!(queue.is_empty());
    }
}
