//! SACK blocks: the client's proof of which packets it received.
//!
//! A block `[left, right]` (inclusive) says "I hold every packet from `left` to `right`" and
//! proves it with `summary`, the XOR of the per-packet nonces of the block, which telescopes to
//! `r(left) ^ r(right + 1)` so the server checks it in constant time. On the wire a block is
//! 20 bytes: left (u64), right (u64), summary (u32).

use super::field::{u32_at, u64_at};
use super::WireError;

/// Wire length of one block.
pub const SACK_BLOCK_LEN: usize = 20;
/// Most blocks a request may carry.
pub const MAX_SACK_BLOCKS: usize = 32;

/// One proven contiguous run of received packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SackBlock {
    /// First seq of the run.
    pub left: u64,
    /// Last seq of the run (inclusive).
    pub right: u64,
    /// XOR of the nonces of packets `left..=right`.
    pub summary: u32,
}

impl SackBlock {
    /// Parse the block at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let block = SackBlock {
            left: u64_at(b, 0)?,
            right: u64_at(b, 8)?,
            summary: u32_at(b, 16)?,
        };
        if block.left > block.right {
            return Err(WireError::Invalid("sack block left > right"));
        }
        Ok(block)
    }

    /// Append the block to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.left.to_be_bytes());
        out.extend_from_slice(&self.right.to_be_bytes());
        out.extend_from_slice(&self.summary.to_be_bytes());
    }

    /// Whether the block holds `seq`.
    pub fn contains(&self, seq: u64) -> bool {
        self.left <= seq && seq <= self.right
    }
}

/// An iterator over the blocks of a request, parsed lazily (zero-copy).
#[derive(Clone, Debug)]
pub struct SackBlocks<'a> {
    bytes: &'a [u8],
}

impl<'a> SackBlocks<'a> {
    /// Blocks stored back to back in `bytes` (length already validated as a multiple).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        SackBlocks { bytes }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.bytes.len() / SACK_BLOCK_LEN
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Iterator for SackBlocks<'_> {
    type Item = SackBlock;
    fn next(&mut self) -> Option<SackBlock> {
        if self.bytes.len() < SACK_BLOCK_LEN {
            return None;
        }
        let (head, rest) = self.bytes.split_at(SACK_BLOCK_LEN);
        self.bytes = rest;
        // Validated by RequestRepr::parse, so parse cannot fail here.
        SackBlock::parse(head).ok()
    }
}
