//! `RESPONSE`: a server data packet with its fresh continuation.
//!
//! ```text
//! off  len field
//!   0   10 common header (type 3)
//!  10    4 nonce      r(seq) ^ r(seq+1): proves receipt when XORed into a SACK block
//!  14    4 echo       the `echo` of the request that released this packet
//!  18    1 flags      bit 0 FIN (last packet of the stream), bit 1 retransmission
//!  19    2 cont_len
//!  21    c continuation (sealed; its seq is this packet's seq)
//! 21+c   * data       stream bytes [offset(seq), offset(seq) + len), see `Continuation::data_range`
//! ```

use super::continuation::SealedContinuation;
use super::field::{u16_at, u32_at, u8_at};
use super::{Header, PacketType, WireError, HEADER_LEN};

/// Flag: last packet of the stream.
pub const FLAG_FIN: u8 = 0x01;
/// Flag: a retransmission.
pub const FLAG_RETRANSMISSION: u8 = 0x02;
/// Length of the fixed part before the continuation.
pub const RESPONSE_FIXED_LEN: usize = HEADER_LEN + 11;

/// A parsed RESPONSE (borrows the datagram).
#[derive(Clone, Copy, Debug)]
pub struct ResponseRepr<'a> {
    /// Connection id.
    pub conn_id: u64,
    /// Packet nonce.
    pub nonce: u32,
    /// Echoed client value.
    pub echo: u32,
    /// FIN / retransmission flags.
    pub flags: u8,
    /// The whole sealed continuation as sent (the client returns it verbatim).
    pub continuation_bytes: &'a [u8],
    /// Its decoded fields.
    pub continuation: SealedContinuation<'a>,
    /// Stream bytes.
    pub data: &'a [u8],
}

impl<'a> ResponseRepr<'a> {
    /// Parse a RESPONSE body; checks that the data length matches the continuation's mapping.
    pub fn parse(header: &Header, body: &'a [u8]) -> Result<Self, WireError> {
        let nonce = u32_at(body, 0)?;
        let echo = u32_at(body, 4)?;
        let flags = u8_at(body, 8)?;
        let cont_len = usize::from(u16_at(body, 9)?);
        let continuation_bytes = body.get(11..11 + cont_len).ok_or(WireError::Truncated)?;
        let continuation = SealedContinuation::parse(continuation_bytes)?;
        let data = &body[11 + cont_len..];
        match continuation.fields.data_range(continuation.fields.seq) {
            Some((_, len)) if len == data.len() => {}
            _ => return Err(WireError::Invalid("data length does not match seq")),
        }
        Ok(ResponseRepr {
            conn_id: header.conn_id,
            nonce,
            echo,
            flags,
            continuation_bytes,
            continuation,
            data,
        })
    }

    /// Start a RESPONSE in `out`: header and fixed fields; the caller then appends the sealed
    /// continuation (whose length is `cont_len`) and the data.
    pub fn emit_prefix(
        out: &mut Vec<u8>,
        conn_id: u64,
        nonce: u32,
        echo: u32,
        flags: u8,
        cont_len: usize,
    ) {
        Header {
            packet_type: PacketType::Response,
            conn_id,
        }
        .emit(out);
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&echo.to_be_bytes());
        out.push(flags);
        out.extend_from_slice(&(cont_len as u16).to_be_bytes());
    }
}
