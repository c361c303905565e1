//! `REFUSE`: the server declines a HELLO (not found, bad request, ...).
//!
//! ```text
//! off len field
//!   0  10 common header (type 4)
//!  10   1 code      1 not found, 2 bad request, 3 content changed, 4 internal, 5 hello too small,
//!                   6 server unreachable (sent by a balancer: resume)
//!  11   2 msg_len
//!  13   n message   UTF-8, for humans
//! ```

use super::field::{bytes_at, u16_at, u8_at};
use super::{Header, PacketType, WireError, HEADER_LEN};

/// Code: the HELLO was too small to answer under the 3× amplification limit.
pub const CODE_HELLO_TOO_SMALL: u8 = 5;
/// Code: sent by a balancer, not a server: the replica it forwarded this connection's datagram
/// to is unreachable (its host answered "port unreachable"). Not the end of the connection: the
/// client resumes at once, as on an ICMP unreachable of its own (PROTOCOL.md §3.6).
pub const CODE_SERVER_UNREACHABLE: u8 = 6;
/// Longest message a REFUSE carries.
pub const MAX_MESSAGE_LEN: usize = 200;

/// A parsed or to-be-emitted REFUSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefuseRepr<'a> {
    /// Connection id of the refused HELLO.
    pub conn_id: u64,
    /// Machine-readable reason.
    pub code: u8,
    /// Human-readable reason.
    pub message: &'a [u8],
}

impl<'a> RefuseRepr<'a> {
    /// Parse a REFUSE body.
    pub fn parse(header: &Header, body: &'a [u8]) -> Result<Self, WireError> {
        let code = u8_at(body, 0)?;
        let len = usize::from(u16_at(body, 1)?);
        Ok(RefuseRepr {
            conn_id: header.conn_id,
            code,
            message: bytes_at(body, 3, len)?,
        })
    }

    /// Emit the REFUSE (message truncated to `MAX_MESSAGE_LEN`).
    pub fn emit(&self) -> Vec<u8> {
        let msg = &self.message[..self.message.len().min(MAX_MESSAGE_LEN)];
        let mut out = Vec::with_capacity(HEADER_LEN + 3 + msg.len());
        Header {
            packet_type: PacketType::Refuse,
            conn_id: self.conn_id,
        }
        .emit(&mut out);
        out.push(self.code);
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(msg);
        out
    }
}
