//! The client's proof of receipt: SACK blocks whose nonce summaries the server checks against
//! its own range nonces, and the coverage questions the server step asks of them.

use crate::crypto::Key;
use crate::wire::sack::{SackBlock, SackBlocks, MAX_SACK_BLOCKS};

/// Why a proof is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// No block at all.
    Empty,
    /// A block's nonce summary is wrong: the client claims packets it did not receive.
    BadNonce,
}

/// A verified proof: blocks strictly increasing and not touching (checked by the parser).
#[derive(Clone, Debug, Default)]
pub struct Proof {
    blocks: Vec<SackBlock>,
}

impl Proof {
    /// Verify `sacks` for the nonce stream `stream`. The first block should be the one holding
    /// (or last before) the continuation's TCPBase; if it starts after TCPBase, the packets in
    /// between count as lost (the first data packets of a connection can be lost too).
    pub fn verify(
        key: &Key,
        stream: u64,
        tcp_base: u64,
        sacks: SackBlocks<'_>,
    ) -> Result<Proof, ProofError> {
        let mut blocks = Vec::with_capacity(sacks.len().min(MAX_SACK_BLOCKS));
        for block in sacks {
            if !key.range_nonce_matches(stream, block.left, block.right, block.summary) {
                return Err(ProofError::BadNonce);
            }
            blocks.push(block);
        }
        let _ = tcp_base;
        if blocks.is_empty() {
            return Err(ProofError::Empty);
        }
        Ok(Proof { blocks })
    }

    /// A proof from blocks already trusted (tests).
    pub fn from_blocks(blocks: Vec<SackBlock>) -> Proof {
        Proof { blocks }
    }

    /// Whether every packet in `from..=to` is covered.
    pub fn covers(&self, from: u64, to: u64) -> bool {
        self.blocks.iter().any(|b| b.left <= from && to <= b.right)
    }

    /// The first seq at or after `from` that the proof does not cover.
    pub fn first_missing_from(&self, from: u64) -> u64 {
        match self.blocks.iter().find(|b| b.contains(from)) {
            Some(b) => b.right.saturating_add(1),
            None => from,
        }
    }

    /// The last seq of the contiguous run that contains `from` (`from - 1` if it is missing).
    pub fn contiguous_end_from(&self, from: u64) -> u64 {
        self.first_missing_from(from).saturating_sub(1)
    }

    /// If `seq` is the first packet after a hole (the left edge of a block that follows another
    /// block), the hole `[lo, seq - 1]` with `lo` raised to `floor`.
    pub fn hole_before(&self, seq: u64, floor: u64) -> Option<(u64, u64)> {
        let i = self.blocks.iter().position(|b| b.left == seq)?;
        if seq <= floor {
            return None;
        }
        let lo = match i {
            0 => floor,
            _ => self.blocks[i - 1].right.saturating_add(1).max(floor),
        };
        (lo < seq).then_some((lo, seq - 1))
    }

    /// If a block starts at `seq` and another block precedes it in the proof, the hole between
    /// them: `[previous block's right + 1, seq - 1]`.
    pub fn hole_right_below(&self, seq: u64) -> Option<(u64, u64)> {
        let i = self.blocks.iter().position(|b| b.left == seq)?;
        let previous = self.blocks.get(i.checked_sub(1)?)?;
        let lo = previous.right.saturating_add(1);
        (lo < seq).then_some((lo, seq - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(left: u64, right: u64) -> SackBlock {
        SackBlock {
            left,
            right,
            summary: 0,
        }
    }

    #[test]
    fn coverage_questions_follow_the_blocks() {
        let p = Proof::from_blocks(vec![b(1, 99), b(101, 120), b(125, 130)]);
        assert!(p.covers(1, 99));
        assert!(!p.covers(1, 101));
        assert_eq!(p.first_missing_from(50), 100);
        assert_eq!(p.first_missing_from(100), 100);
        assert_eq!(p.contiguous_end_from(50), 99);
        assert_eq!(p.hole_before(101, 1), Some((100, 100)));
        assert_eq!(p.hole_before(125, 1), Some((121, 124)));
        assert_eq!(p.hole_before(125, 123), Some((123, 124)));
        assert_eq!(p.hole_before(102, 1), None);
        assert_eq!(p.hole_before(1, 1), None);
        assert_eq!(p.hole_right_below(125), Some((121, 124)));
        assert_eq!(p.hole_right_below(1), None);
        assert_eq!(p.hole_right_below(102), None);
        let late_start = Proof::from_blocks(vec![b(3, 9)]);
        assert_eq!(late_start.hole_right_below(3), None);
        assert_eq!(late_start.hole_before(3, 1), Some((1, 2)));
        assert_eq!(late_start.first_missing_from(1), 1);
    }
}
