//! `HELLO`: the client opens a connection and names what it wants.
//!
//! ```text
//! off len field
//!   0  10 common header (type 1)
//!  10   8 resume_offset  stream offset to start from (0 for a new transfer)
//!  18   4 receive_window client's receive buffer in bytes (caps the window: flow control)
//!  22   2 request_len
//!  24   n request        application request (the path, for the static web server)
//! 24+n  * padding        zeros; the client pads so the server may answer with 3× its size
//! ```

use super::field::{bytes_at, u16_at, u32_at, u64_at};
use super::{Header, PacketType, WireError, HEADER_LEN};

/// Length of the fixed part of a HELLO.
pub const HELLO_FIXED_LEN: usize = HEADER_LEN + 14;
/// Size clients pad their HELLO to: enough to draw a full initial window under the 3× rule.
pub const HELLO_PADDED_LEN: usize = 1400;
/// Size a client pads its HELLO to after a "hello too small" refusal: enough for a first window
/// of jumbo-frame packets (mss up to 8800).
pub const MAX_HELLO_PADDING: usize = 9216;

/// A parsed or to-be-emitted HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloRepr<'a> {
    /// Connection id chosen by the client.
    pub conn_id: u64,
    /// Stream offset to start from.
    pub resume_offset: u64,
    /// Client's receive buffer in bytes.
    pub receive_window: u32,
    /// Application request.
    pub request: &'a [u8],
}

impl<'a> HelloRepr<'a> {
    /// Parse a HELLO body (`body` follows the common header).
    pub fn parse(header: &Header, body: &'a [u8]) -> Result<Self, WireError> {
        let resume_offset = u64_at(body, 0)?;
        let receive_window = u32_at(body, 8)?;
        let len = usize::from(u16_at(body, 12)?);
        let request = bytes_at(body, 14, len)?;
        Ok(HelloRepr {
            conn_id: header.conn_id,
            resume_offset,
            receive_window,
            request,
        })
    }

    /// Emit the HELLO, padded with zeros to at least `pad_to` bytes.
    pub fn emit(&self, pad_to: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(pad_to.max(HELLO_FIXED_LEN + self.request.len()));
        Header {
            packet_type: PacketType::Hello,
            conn_id: self.conn_id,
        }
        .emit(&mut out);
        out.extend_from_slice(&self.resume_offset.to_be_bytes());
        out.extend_from_slice(&self.receive_window.to_be_bytes());
        out.extend_from_slice(&(self.request.len() as u16).to_be_bytes());
        out.extend_from_slice(self.request);
        if out.len() < pad_to {
            out.resize(pad_to, 0);
        }
        out
    }
}
