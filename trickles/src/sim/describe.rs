//! One-line human descriptions of Trickles datagrams, for recorded simulation traces.
//!
//! Parsing here is best effort: a datagram that does not parse is described as such, never a
//! panic. The description names the packet type and the fields that explain a transfer: the
//! sequence number and trickle state of data packets, the continuation and proof of requests.

use std::fmt::Write;

use crate::wire::{
    ContState, Header, HelloRepr, PacketType, RefuseRepr, RequestKind, RequestRepr, ResponseRepr,
};

/// Describe a Trickles datagram in one line.
pub fn describe_datagram(datagram: &[u8]) -> String {
    let (header, body) = match Header::parse(datagram) {
        Ok(parsed) => parsed,
        Err(error) => return format!("unparseable ({error})"),
    };
    let described = match header.packet_type {
        PacketType::Hello => HelloRepr::parse(&header, body)
            .map(|hello| format!("HELLO resume_offset={}", hello.resume_offset)),
        PacketType::Response => ResponseRepr::parse(&header, body).map(|response| {
            let c = &response.continuation.fields;
            format!(
                "DATA seq={} {} bytes={} tcp_base={} cwnd0={} ssthresh={}{}",
                c.seq,
                state_name(c.state),
                response.data.len(),
                c.tcp_base,
                c.start_cwnd,
                c.ssthresh,
                if response.flags & crate::wire::response::FLAG_RETRANSMISSION != 0 {
                    " retx"
                } else {
                    ""
                }
            )
        }),
        PacketType::Request => RequestRepr::parse(&header, body).map(|request| {
            let c = &request.continuation.fields;
            let mut line = match request.kind {
                RequestKind::Normal => format!("REQ for seq={} {}", c.seq, state_name(c.state)),
                RequestKind::SlowStart => {
                    format!("RESTART#{} from seq={}", request.attempt, c.seq)
                }
            };
            line.push_str(" sack=");
            for block in request.sacks.clone() {
                let _ = write!(line, "[{}..{}]", block.left, block.right);
            }
            line
        }),
        PacketType::Refuse => RefuseRepr::parse(&header, body).map(|refuse| {
            format!(
                "REFUSE code={} {}",
                refuse.code,
                String::from_utf8_lossy(refuse.message)
            )
        }),
    };
    described.unwrap_or_else(|error| format!("{:?} malformed ({error})", header.packet_type))
}

fn state_name(state: ContState) -> &'static str {
    match state {
        ContState::Normal => "normal",
        ContState::Recovery => "recovery",
        ContState::Bootstrap => "bootstrap",
    }
}
