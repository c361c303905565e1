//! `REQUEST`: the client hands a continuation back, with its proof of receipt.
//!
//! ```text
//! off  len field
//!   0   10 common header (type 2)
//!  10    1 kind        0 normal, 1 slow-start restart (after a retransmission timeout)
//!  11    1 attempt     slow-start attempt number (0 for normal requests)
//!  12    4 echo        client value the server echoes in its responses (RTT sampling)
//!  16    2 cont_len    length of the sealed continuation
//!  18    c continuation (see `continuation`)
//! 18+c   1 sack_count  1..=32
//! 19+c 20·s blocks     SACK blocks, strictly increasing, not touching
//! ```
//! Nothing may follow the last block.

use super::continuation::SealedContinuation;
use super::field::{u16_at, u32_at, u8_at};
use super::sack::{SackBlock, SackBlocks, MAX_SACK_BLOCKS, SACK_BLOCK_LEN};
use super::{Header, PacketType, WireError, HEADER_LEN};

/// Kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestKind {
    /// Acknowledge the packet that carried the continuation (the trickle continues).
    Normal = 0,
    /// Restart the window after a timeout (reference §3.8).
    SlowStart = 1,
}

/// A parsed REQUEST (borrows the datagram).
#[derive(Clone, Debug)]
pub struct RequestRepr<'a> {
    /// Connection id.
    pub conn_id: u64,
    /// Normal or slow start.
    pub kind: RequestKind,
    /// Slow-start attempt number.
    pub attempt: u8,
    /// Opaque client value echoed by the server.
    pub echo: u32,
    /// The continuation handed back.
    pub continuation: SealedContinuation<'a>,
    /// The proof of receipt.
    pub sacks: SackBlocks<'a>,
}

impl<'a> RequestRepr<'a> {
    /// Parse a REQUEST body. Checks block syntax and order; the nonces are checked by the server.
    pub fn parse(header: &Header, body: &'a [u8]) -> Result<Self, WireError> {
        let kind = match u8_at(body, 0)? {
            0 => RequestKind::Normal,
            1 => RequestKind::SlowStart,
            _ => return Err(WireError::Invalid("request kind")),
        };
        let attempt = u8_at(body, 1)?;
        let echo = u32_at(body, 2)?;
        let cont_len = usize::from(u16_at(body, 6)?);
        let cont_bytes = body.get(8..8 + cont_len).ok_or(WireError::Truncated)?;
        let continuation = SealedContinuation::parse(cont_bytes)?;
        let count = usize::from(u8_at(body, 8 + cont_len)?);
        if count == 0 || count > MAX_SACK_BLOCKS {
            return Err(WireError::Invalid("sack count"));
        }
        let blocks = &body[9 + cont_len..];
        if blocks.len() != count * SACK_BLOCK_LEN {
            return Err(WireError::Invalid("sack blocks length"));
        }
        let mut prev: Option<SackBlock> = None;
        for chunk in blocks.chunks_exact(SACK_BLOCK_LEN) {
            let block = SackBlock::parse(chunk)?;
            if let Some(p) = prev {
                if block.left <= p.right.saturating_add(1) {
                    return Err(WireError::Invalid("sack blocks out of order"));
                }
            }
            prev = Some(block);
        }
        Ok(RequestRepr {
            conn_id: header.conn_id,
            kind,
            attempt,
            echo,
            continuation,
            sacks: SackBlocks::new(blocks),
        })
    }

    /// Emit a REQUEST from its parts (`sealed_cont` is the continuation exactly as received).
    pub fn emit(
        conn_id: u64,
        kind: RequestKind,
        attempt: u8,
        echo: u32,
        sealed_cont: &[u8],
        sacks: &[SackBlock],
    ) -> Vec<u8> {
        let n = sacks.len().min(MAX_SACK_BLOCKS);
        let mut out = Vec::with_capacity(HEADER_LEN + 9 + sealed_cont.len() + n * SACK_BLOCK_LEN);
        Header {
            packet_type: PacketType::Request,
            conn_id,
        }
        .emit(&mut out);
        out.push(kind as u8);
        out.push(attempt);
        out.extend_from_slice(&echo.to_be_bytes());
        out.extend_from_slice(&(sealed_cont.len() as u16).to_be_bytes());
        out.extend_from_slice(sealed_cont);
        out.push(n as u8);
        for block in &sacks[..n] {
            block.emit(&mut out);
        }
        out
    }
}
