//! The client's record of received packets: sorted, disjoint SACK blocks, each with the XOR of
//! its packets' nonces, which is the proof of receipt a request carries.

use crate::wire::sack::{SackBlock, MAX_SACK_BLOCKS};

/// Received sequence numbers of one incarnation of a connection, as proven blocks.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    blocks: Vec<SackBlock>,
}

impl Scoreboard {
    /// An empty scoreboard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything (new incarnation).
    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// Number of blocks (holes + 1).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `seq` was received.
    pub fn contains(&self, seq: u64) -> bool {
        self.index_at_or_before(seq)
            .is_some_and(|i| self.blocks[i].contains(seq))
    }

    /// Record packet `seq` with its `nonce`; false if it was already recorded (duplicate).
    pub fn insert(&mut self, seq: u64, nonce: u32) -> bool {
        let at = self.index_at_or_before(seq);
        if let Some(i) = at {
            let b = &mut self.blocks[i];
            if b.contains(seq) {
                return false;
            }
            if b.right.checked_add(1) == Some(seq) {
                b.right = seq;
                b.summary ^= nonce;
                self.merge_with_next(i);
                return true;
            }
        }
        let next = at.map_or(0, |i| i + 1);
        if let Some(n) = self.blocks.get_mut(next) {
            if seq.checked_add(1) == Some(n.left) {
                n.left = seq;
                n.summary ^= nonce;
                return true;
            }
        }
        self.blocks.insert(
            next,
            SackBlock {
                left: seq,
                right: seq,
                summary: nonce,
            },
        );
        true
    }

    /// The first seq at or after `from` not received.
    pub fn first_missing_from(&self, from: u64) -> u64 {
        match self.index_at_or_before(from) {
            Some(i) if self.blocks[i].contains(from) => self.blocks[i].right.saturating_add(1),
            _ => from,
        }
    }

    /// The `count`-th highest seq received (`count >= 1`), if that many were received: a
    /// packet missing below it has at least `count` received packets above it.
    pub fn nth_highest(&self, count: u64) -> Option<u64> {
        let mut remaining = count.max(1);
        for b in self.blocks.iter().rev() {
            let len = b.right - b.left + 1;
            if len >= remaining {
                return Some(b.right - (remaining - 1));
            }
            remaining -= len;
        }
        None
    }

    /// Forget the blocks before the one holding (or last before) `seq`, except the block just
    /// before that one (a proof for an epoch starting at `seq` may show it, see
    /// [`Scoreboard::proof`]).
    pub fn forget_before(&mut self, seq: u64) {
        if let Some(i) = self.index_at_or_before(seq) {
            self.blocks.drain(..i.saturating_sub(1));
        }
    }

    /// Highest seq received, if any.
    pub fn highest(&self) -> Option<u64> {
        self.blocks.last().map(|b| b.right)
    }

    /// The proof for a request whose continuation has TCPBase `tcp_base` and seq `seq`: the
    /// block holding (or last before, or else the first after) `tcp_base` (and the block
    /// before it when `tcp_base` starts a block), then the blocks
    /// after it that start at or before `seq`, at most `MAX_SACK_BLOCKS` in all. When there
    /// are more, the blocks nearest `seq` are kept: the server reads the first block (where
    /// the epoch's first loss is) and the block starting at `seq` with the one before it (the
    /// hole this request retransmits), never the blocks in between.
    pub fn proof(&self, tcp_base: u64, seq: u64, out: &mut Vec<SackBlock>) {
        out.clear();
        let mut start = self.index_at_or_before(tcp_base).unwrap_or(0);
        if start > 0 && self.blocks[start].left == tcp_base {
            // The packet before the epoch is missing: show the hole (the server resends the
            // lost end of a window before a recovery's first packet).
            start -= 1;
        }
        let Some(first) = self.blocks.get(start) else {
            return;
        };
        out.push(*first);
        let following = &self.blocks[start + 1..];
        let end = following.partition_point(|b| b.left <= seq);
        let from = end.saturating_sub(MAX_SACK_BLOCKS - 1);
        out.extend_from_slice(&following[from..end]);
    }

    fn index_at_or_before(&self, seq: u64) -> Option<usize> {
        let n = self.blocks.partition_point(|b| b.left <= seq);
        n.checked_sub(1)
    }

    fn merge_with_next(&mut self, i: usize) {
        if i + 1 < self.blocks.len()
            && self.blocks[i].right.checked_add(1) == Some(self.blocks[i + 1].left)
        {
            let next = self.blocks.remove(i + 1);
            self.blocks[i].right = next.right;
            self.blocks[i].summary ^= next.summary;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_merge_and_summaries_xor() {
        let mut s = Scoreboard::new();
        assert!(s.insert(1, 0b0001));
        assert!(s.insert(3, 0b0100));
        assert!(!s.insert(3, 0b0100));
        assert_eq!(s.len(), 2);
        assert!(s.insert(2, 0b0010));
        assert_eq!(s.len(), 1);
        let mut p = Vec::new();
        s.proof(1, 3, &mut p);
        assert_eq!(
            p,
            vec![SackBlock {
                left: 1,
                right: 3,
                summary: 0b0111
            }]
        );
        assert_eq!(s.first_missing_from(1), 4);
        assert_eq!(s.first_missing_from(7), 7);
    }

    #[test]
    fn proof_starts_at_the_block_before_tcp_base() {
        let mut s = Scoreboard::new();
        for seq in (1..=5).chain(7..=9).chain(12..=13) {
            s.insert(seq, 0);
        }
        let mut p = Vec::new();
        s.proof(8, 12, &mut p);
        assert_eq!(p.iter().map(|b| b.left).collect::<Vec<_>>(), vec![7, 12]);
        s.proof(6, 9, &mut p);
        assert_eq!(p.iter().map(|b| b.left).collect::<Vec<_>>(), vec![1, 7]);
    }

    #[test]
    fn nth_highest_counts_down_through_the_blocks() {
        let mut s = Scoreboard::new();
        assert_eq!(s.nth_highest(1), None);
        for seq in [1, 2, 3, 7, 9, 10] {
            s.insert(seq, 0);
        }
        assert_eq!(s.nth_highest(1), Some(10));
        assert_eq!(s.nth_highest(2), Some(9));
        assert_eq!(s.nth_highest(3), Some(7));
        assert_eq!(s.nth_highest(4), Some(3));
        assert_eq!(s.nth_highest(6), Some(1));
        assert_eq!(s.nth_highest(7), None);
    }

    #[test]
    fn a_proof_shows_the_hole_right_before_an_epoch() {
        let mut s = Scoreboard::new();
        for seq in (1..=8).chain(11..=14) {
            s.insert(seq, 0);
        }
        let mut p = Vec::new();
        s.proof(11, 13, &mut p);
        assert_eq!(p.iter().map(|b| b.left).collect::<Vec<_>>(), vec![1, 11]);
        s.proof(12, 13, &mut p);
        assert_eq!(p.iter().map(|b| b.left).collect::<Vec<_>>(), vec![11]);
    }

    #[test]
    fn a_long_proof_keeps_the_first_block_and_the_blocks_nearest_seq() {
        // Every other packet lost after 10: blocks [1..10], [12], [14], ...
        let mut s = Scoreboard::new();
        for seq in (1..=10).chain((12..=200).step_by(2)) {
            s.insert(seq, 0);
        }
        let mut p = Vec::new();
        s.proof(1, 150, &mut p);
        assert_eq!(p.len(), MAX_SACK_BLOCKS);
        assert_eq!(p[0].left, 1);
        assert_eq!(p[MAX_SACK_BLOCKS - 1].left, 150);
        assert_eq!(p[MAX_SACK_BLOCKS - 2].left, 148);
    }
}
