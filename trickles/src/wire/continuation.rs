//! The transport continuation: every piece of per-connection server state, carried by the client.
//!
//! Layout (big-endian), `CONT_FIXED_LEN` = 94 bytes, then the user continuation, then the tag:
//!
//! ```text
//! off len field               meaning
//!   0   1 epoch               key epoch that sealed this continuation
//!   1   1 state               0 normal, 1 recovery (on retransmissions), 2 bootstrap
//!   2   8 seq                 sequence number of the packet that carried it
//!  10   8 timestamp           server clock (µs since UNIX epoch) when it was made
//!  18   4 mrtt                server-side smoothed RTT, µs (0 = no sample yet)
//!  22   8 tcp_base            TCPBase of the closed-form window
//!  30   4 start_cwnd          window at tcp_base
//!  34   4 ssthresh            slow-start threshold
//!  38   8 first_loss          first lost seq of the recovery that made it (0 = none)
//!  46   8 first_bootstrap_seq first seq of the post-loss window (0 = none)
//!  54   8 token_base          per-connection nonce stream id (random at HELLO)
//!  62   8 data_base           seq of the first data packet of the stream
//!  70   8 start_offset        stream offset carried by data_base
//!  78   8 total_len           length of the response stream in bytes
//!  86   2 mss                 stream bytes per packet
//!  88   4 window_cap          largest window in packets (the client's receive window)
//!  92   2 ucont_len           length of the user continuation
//!  94   n ucont               application state (opaque to the transport)
//! 94+n 16 tag                 MAC over pseudo-header ‖ bytes 0..94+n
//! ```
//!
//! Nothing here is secret; everything is authenticated. The client reads the fields (it needs
//! `seq`, `state`, `tcp_base` and the stream mapping) but cannot change them.

use super::field::{bytes_at, u16_at, u32_at, u64_at, u8_at};
use super::WireError;

/// Length of the fixed fields before the user continuation.
pub const CONT_FIXED_LEN: usize = 94;
/// Length of the MAC tag at the end.
pub const TAG_LEN: usize = 16;

/// State of the trickle a continuation belongs to (reference §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ContState {
    /// Regular packet: its request runs the normal step (or recovery, if the proof shows a loss).
    Normal = 0,
    /// Carried by a retransmission: its request releases nothing.
    Recovery = 1,
    /// First packets of the window after a loss.
    Bootstrap = 2,
}

impl ContState {
    fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            0 => ContState::Normal,
            1 => ContState::Recovery,
            2 => ContState::Bootstrap,
            _ => return Err(WireError::Invalid("continuation state")),
        })
    }
}

/// The fields of a transport continuation; `ucont` borrows the datagram when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation<'a> {
    /// Key epoch that sealed it.
    pub epoch: u8,
    /// Trickle state.
    pub state: ContState,
    /// Seq of the packet that carried it.
    pub seq: u64,
    /// Server time when made (µs).
    pub timestamp: u64,
    /// Smoothed RTT seen by the server (µs).
    pub mrtt: u32,
    /// TCPBase of the closed-form window.
    pub tcp_base: u64,
    /// Window at `tcp_base`.
    pub start_cwnd: u32,
    /// Slow-start threshold.
    pub ssthresh: u32,
    /// First lost seq of the recovery that produced this continuation.
    pub first_loss: u64,
    /// First seq of the post-loss window.
    pub first_bootstrap_seq: u64,
    /// Per-connection nonce stream.
    pub token_base: u64,
    /// Seq of the first data packet.
    pub data_base: u64,
    /// Stream offset of `data_base`.
    pub start_offset: u64,
    /// Length of the stream.
    pub total_len: u64,
    /// Stream bytes per packet.
    pub mss: u16,
    /// Largest window in packets (flow control: the client's receive window).
    pub window_cap: u32,
    /// Application state.
    pub ucont: &'a [u8],
}

/// A parsed sealed continuation: its fields, the authenticated bytes and the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedContinuation<'a> {
    /// The decoded fields.
    pub fields: Continuation<'a>,
    /// Bytes covered by the MAC (everything but the tag).
    pub body: &'a [u8],
    /// The MAC tag.
    pub tag: &'a [u8],
}

impl<'a> Continuation<'a> {
    /// Length of the body (without tag) once emitted.
    pub fn body_len(&self) -> usize {
        CONT_FIXED_LEN + self.ucont.len()
    }

    /// Append the body (everything the MAC covers after the pseudo-header) to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        out.reserve(self.body_len() + TAG_LEN);
        out.push(self.epoch);
        out.push(self.state as u8);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.mrtt.to_be_bytes());
        out.extend_from_slice(&self.tcp_base.to_be_bytes());
        out.extend_from_slice(&self.start_cwnd.to_be_bytes());
        out.extend_from_slice(&self.ssthresh.to_be_bytes());
        out.extend_from_slice(&self.first_loss.to_be_bytes());
        out.extend_from_slice(&self.first_bootstrap_seq.to_be_bytes());
        out.extend_from_slice(&self.token_base.to_be_bytes());
        out.extend_from_slice(&self.data_base.to_be_bytes());
        out.extend_from_slice(&self.start_offset.to_be_bytes());
        out.extend_from_slice(&self.total_len.to_be_bytes());
        out.extend_from_slice(&self.mss.to_be_bytes());
        out.extend_from_slice(&self.window_cap.to_be_bytes());
        out.extend_from_slice(&(self.ucont.len() as u16).to_be_bytes());
        out.extend_from_slice(self.ucont);
    }

    /// Number of packets in the stream (at least one, so an empty stream still ends with FIN).
    pub fn stream_packets(&self) -> u64 {
        let remaining = self.total_len.saturating_sub(self.start_offset);
        let mss = u64::from(self.mss.max(1));
        remaining.div_ceil(mss).max(1)
    }

    /// Seq of the last packet of the stream.
    pub fn last_seq(&self) -> u64 {
        self.data_base
            .saturating_add(self.stream_packets())
            .saturating_sub(1)
    }

    /// Stream bytes carried by packet `seq`: `(offset, len)`, or `None` outside the stream.
    pub fn data_range(&self, seq: u64) -> Option<(u64, usize)> {
        if seq < self.data_base || seq > self.last_seq() {
            return None;
        }
        let index = seq - self.data_base;
        let offset = self
            .start_offset
            .checked_add(index.checked_mul(u64::from(self.mss))?)?;
        let len = self
            .total_len
            .saturating_sub(offset)
            .min(u64::from(self.mss));
        Some((offset, len as usize))
    }
}

impl<'a> SealedContinuation<'a> {
    /// Parse a sealed continuation occupying exactly `b`.
    pub fn parse(b: &'a [u8]) -> Result<Self, WireError> {
        if b.len() < CONT_FIXED_LEN + TAG_LEN {
            return Err(WireError::Truncated);
        }
        let ucont_len = usize::from(u16_at(b, 92)?);
        let body_len = CONT_FIXED_LEN + ucont_len;
        if b.len() != body_len + TAG_LEN {
            return Err(WireError::Invalid("continuation length"));
        }
        let mss = u16_at(b, 86)?;
        if mss == 0 {
            return Err(WireError::Invalid("mss"));
        }
        let fields = Continuation {
            epoch: u8_at(b, 0)?,
            state: ContState::from_u8(u8_at(b, 1)?)?,
            seq: u64_at(b, 2)?,
            timestamp: u64_at(b, 10)?,
            mrtt: u32_at(b, 18)?,
            tcp_base: u64_at(b, 22)?,
            start_cwnd: u32_at(b, 30)?,
            ssthresh: u32_at(b, 34)?,
            first_loss: u64_at(b, 38)?,
            first_bootstrap_seq: u64_at(b, 46)?,
            token_base: u64_at(b, 54)?,
            data_base: u64_at(b, 62)?,
            start_offset: u64_at(b, 70)?,
            total_len: u64_at(b, 78)?,
            mss,
            window_cap: u32_at(b, 88)?,
            ucont: bytes_at(b, CONT_FIXED_LEN, ucont_len)?,
        };
        Ok(SealedContinuation {
            fields,
            body: &b[..body_len],
            tag: &b[body_len..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Continuation<'static> {
        Continuation {
            epoch: 7,
            state: ContState::Bootstrap,
            seq: 110,
            timestamp: 1_700_000_000_000_000,
            mrtt: 20_000,
            tcp_base: 110,
            start_cwnd: 5,
            ssthresh: 5,
            first_loss: 100,
            first_bootstrap_seq: 110,
            token_base: 0x0123_4567_89ab_cdef,
            data_base: 1,
            start_offset: 0,
            total_len: 1_000_000,
            mss: 1200,
            window_cap: 8191,
            ucont: b"/index.html",
        }
    }

    #[test]
    fn continuation_round_trips_through_its_wire_form() {
        let c = sample();
        let mut b = Vec::new();
        c.emit_body(&mut b);
        assert_eq!(b.len(), c.body_len());
        b.extend_from_slice(&[0xAA; TAG_LEN]);
        let parsed = SealedContinuation::parse(&b).unwrap();
        assert_eq!(parsed.fields, c);
        assert_eq!(parsed.tag, &[0xAA; TAG_LEN]);
        assert_eq!(parsed.body, &b[..c.body_len()]);
    }

    #[test]
    fn every_truncation_of_a_continuation_is_an_error() {
        let c = sample();
        let mut b = Vec::new();
        c.emit_body(&mut b);
        b.extend_from_slice(&[0; TAG_LEN]);
        for len in 0..b.len() {
            assert!(SealedContinuation::parse(&b[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn stream_mapping_covers_every_byte_once() {
        let mut c = sample();
        c.total_len = 2500;
        c.mss = 1000;
        assert_eq!(c.stream_packets(), 3);
        assert_eq!(c.last_seq(), 3);
        assert_eq!(c.data_range(1), Some((0, 1000)));
        assert_eq!(c.data_range(3), Some((2000, 500)));
        assert_eq!(c.data_range(4), None);
        assert_eq!(c.data_range(0), None);
        c.total_len = 0;
        assert_eq!(c.stream_packets(), 1);
        assert_eq!(c.data_range(1), Some((0, 0)));
    }
}
