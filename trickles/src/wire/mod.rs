//! Wire format of Trickles over UDP, version 1. `docs/PROTOCOL.md` documents it byte by byte.
//!
//! Every datagram starts with the same 10-byte header:
//!
//! ```text
//!  0        1        2                                   10
//! +--------+--------+-----------------------------------+
//! |version |  type  |        connection id (u64)        |
//! +--------+--------+-----------------------------------+
//! ```
//!
//! followed by the body of its type: [`hello`] (client opens a connection), [`request`] (client
//! returns a continuation with its proof of receipt), [`response`] (server data packet with a
//! fresh continuation) or [`refuse`] (server refuses a request). All integers are big-endian.
//! Parsing is zero-copy (`Repr`s borrow the datagram) and every malformed input is an `Err`.

pub mod continuation;
pub mod field;
pub mod hello;
pub mod refuse;
pub mod request;
pub mod response;
pub mod sack;

pub use continuation::{ContState, Continuation, CONT_FIXED_LEN};
pub use hello::HelloRepr;
pub use refuse::RefuseRepr;
pub use request::{RequestKind, RequestRepr};
pub use response::ResponseRepr;
pub use sack::SackBlock;

/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Length of the common header.
pub const HEADER_LEN: usize = 10;

mod offset {
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const CONN_ID: core::ops::Range<usize> = 2..10;
}

/// Why a datagram could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its fixed fields or than a length field says.
    #[error("truncated packet")]
    Truncated,
    /// A version this implementation does not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// An unknown packet type.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// A field holds a value that is not allowed.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// The packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Client opens a connection and names what it wants.
    Hello = 1,
    /// Client returns a continuation with its proof of receipt.
    Request = 2,
    /// Server data packet carrying a fresh continuation.
    Response = 3,
    /// Server refuses (not found, ...).
    Refuse = 4,
}

impl PacketType {
    fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            1 => PacketType::Hello,
            2 => PacketType::Request,
            3 => PacketType::Response,
            4 => PacketType::Refuse,
            other => return Err(WireError::UnknownType(other)),
        })
    }
}

/// The common header of every datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What follows the header.
    pub packet_type: PacketType,
    /// Client-chosen connection identifier.
    pub conn_id: u64,
}

impl Header {
    /// Parse the common header; returns it and the body.
    pub fn parse(datagram: &[u8]) -> Result<(Header, &[u8]), WireError> {
        if datagram.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if datagram[offset::VERSION] != VERSION {
            return Err(WireError::Version(datagram[offset::VERSION]));
        }
        let packet_type = PacketType::from_u8(datagram[offset::TYPE])?;
        let conn_id = field::u64_at(datagram, offset::CONN_ID.start)?;
        Ok((
            Header {
                packet_type,
                conn_id,
            },
            &datagram[HEADER_LEN..],
        ))
    }

    /// Append the header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.packet_type as u8);
        out.extend_from_slice(&self.conn_id.to_be_bytes());
    }
}

/// The connection id of a datagram, for demultiplexing, without parsing the rest.
pub fn connection_id(datagram: &[u8]) -> Option<u64> {
    Header::parse(datagram).ok().map(|(h, _)| h.conn_id)
}
