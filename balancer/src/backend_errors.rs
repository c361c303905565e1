//! [`BackendErrors`]: what a datapath worker does when a backend's host says "port unreachable".
//!
//! The VIP sockets ask for ICMP errors (`IP_RECVERR`). When a replica's process dies, its host
//! answers the requests the balancer forwards to it with "port unreachable". Each such error
//! for a backend of the table is counted and told to the controller
//! ([`crate::controller::ControlMessage::Unreachable`]), which probes that backend at once (at
//! most once per [`crate::controller::MIN_KICK_GAP`]): its refused probe takes it out of the
//! table within a round trip instead of at the next probe interval. A forged error costs one
//! probe of a healthy backend, which answers it; errors for other addresses are ignored.
//!
//! The client does not hear these errors (they come to the balancer), so it would wait for its
//! retransmission timer. The balancer passes each one on: the quoted datagram is its own
//! forward (the encapsulation header naming the client, then the client's HELLO or REQUEST),
//! so it tells that client, from the VIP socket the client sends to, with a REFUSE of code 6
//! ("server unreachable", PROTOCOL.md §3.6) for that connection. The client treats it as it
//! would its own ICMP unreachable: it resumes at once (paced), and its retries find the new
//! table. Notices are bounded by a token bucket per worker ([`NOTICES_PER_SECOND`], burst
//! [`NOTICE_BURST`]); each is smaller than the error that caused it, so a forged error is
//! reflected at most once, smaller, to the client it names.
//!
//! Tried and left out: forwarding the quoted requests again once the table changed. It sent
//! them (a Trickles request carries its connection's state, so any replica answers it), but a
//! client's stall did not shorten in the loopback test: the kernel limits the ICMP it sends
//! (1,000 a second, a burst of 50, and per destination 6 then 1 a second), so most requests
//! lost with the replica are never quoted back, and the client still waits for its timer. One
//! notice per connection is enough to end that wait.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use trickles::wire::refuse::CODE_SERVER_UNREACHABLE;
use trickles::wire::{Header, PacketType, RefuseRepr};
use trickles_netfn::encap::{EncapRepr, MAX_HEADER_LEN};
use trickles_netfn::udp::error_queue;

use crate::controller::ControlMessage;
use crate::core::ForwardingTable;

/// Errors read per call: the queue is drained over several calls under a flood.
const ERRORS_PER_CALL: usize = 64;
/// Bytes of a quoted datagram read: the encapsulation header and the Trickles header after it.
const QUOTED_LEN: usize = 256;
/// Notices a worker sends per second at most (a token bucket)...
pub const NOTICES_PER_SECOND: u32 = 1_000;
/// ... with this burst.
pub const NOTICE_BURST: u32 = 64;
/// The text of a notice, for humans (`tshark`, logs).
const NOTICE_MESSAGE: &[u8] = b"replica unreachable: resume";

/// One worker's reader of its socket's ICMP errors (see the module documentation).
#[derive(Debug)]
pub struct BackendErrors {
    quoted: Vec<u8>,
    notice: Vec<u8>,
    tokens: u32,
    refilled: Instant,
}

impl Default for BackendErrors {
    fn default() -> Self {
        BackendErrors {
            quoted: vec![0; QUOTED_LEN],
            notice: Vec::with_capacity(MAX_HEADER_LEN + 64),
            tokens: NOTICE_BURST,
            refilled: Instant::now(),
        }
    }
}

/// What a worker heard on its error queue in one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// Unreachables for backends of the table (each one probes that backend).
    pub unreachables: u64,
    /// Notices sent to the clients whose datagrams they quoted.
    pub notices: u64,
}

/// The notice for the forward `quoted` (the start of a datagram the balancer sent to a
/// backend): where to send it and its bytes, written into `out`. `None` when the quote is not a
/// forwarded HELLO or REQUEST, or names a backend as its client.
pub fn notice_for(quoted: &[u8], table: &ForwardingTable, out: &mut Vec<u8>) -> Option<SocketAddr> {
    let (header, via, inner) = EncapRepr::parse_with_via(quoted).ok()?;
    let client = header.peer;
    if table.backend_at(client).is_some() || via.is_some_and(|v| table.backend_at(v).is_some()) {
        return None;
    }
    let (trickles, _) = Header::parse(inner).ok()?;
    if !matches!(
        trickles.packet_type,
        PacketType::Hello | PacketType::Request
    ) {
        return None;
    }
    out.clear();
    if via.is_some() {
        // Back through the upstream relay, as replies go: encapsulated, naming the client.
        let mut head = [0u8; MAX_HEADER_LEN];
        let len = EncapRepr::new(client).emit(&mut head)?;
        out.extend_from_slice(&head[..len]);
    }
    let refuse = RefuseRepr {
        conn_id: trickles.conn_id,
        code: CODE_SERVER_UNREACHABLE,
        message: NOTICE_MESSAGE,
    };
    out.extend_from_slice(&refuse.emit());
    Some(via.unwrap_or(client))
}

impl BackendErrors {
    /// Reads the socket's queued ICMP errors; each "unreachable" for a backend of `table` is
    /// told to the controller and passed on to the client its quoted datagram came from.
    pub fn read(
        &mut self,
        socket: &UdpSocket,
        table: &ForwardingTable,
        control: &UnboundedSender<ControlMessage>,
    ) -> Heard {
        let mut heard = Heard::default();
        for _ in 0..ERRORS_PER_CALL {
            let unreachable = match error_queue::recv_error(socket, &mut self.quoted) {
                Ok(Some(unreachable)) => unreachable,
                Ok(None) => continue,
                Err(_) => break,
            };
            let backend = unreachable.destination;
            if !table.backends.iter().any(|b| b.address == backend) {
                continue;
            }
            heard.unreachables += 1;
            let _ = control.send(ControlMessage::Unreachable(backend));
            let quoted = &self.quoted[..unreachable.quoted_len];
            if let Some(to) = notice_for(quoted, table, &mut self.notice) {
                if self.take_token(Instant::now()) && socket.send_to(&self.notice, to).is_ok() {
                    heard.notices += 1;
                }
            }
        }
        heard
    }

    /// Whether the bucket allows one more notice now.
    fn take_token(&mut self, now: Instant) -> bool {
        let grown = now.saturating_duration_since(self.refilled).as_micros()
            * u128::from(NOTICES_PER_SECOND)
            / 1_000_000;
        if grown > 0 {
            self.tokens = NOTICE_BURST.min(self.tokens.saturating_add(grown as u32));
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use trickles::wire::{Header, PacketType, RefuseRepr};
    use trickles_netfn::encap::{EncapRepr, MAX_HEADER_LEN};

    use super::*;
    use crate::core::table::TableBackend;
    use crate::core::{ForwardingMode, Policy};

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn table() -> ForwardingTable {
        let backends = (0..2)
            .map(|i| TableBackend {
                name: format!("r{i}"),
                address: addr(&format!("[2001:2::1]:{}", 6000 + i)),
                weight: 1,
                up: true,
                drained: false,
            })
            .collect();
        ForwardingTable::build(backends, Policy::Maglev, ForwardingMode::Relay, 251).expect("table")
    }

    /// A forward as the datapath sends it: the header naming `client` (with a VIA option
    /// naming `via`), then a Trickles datagram of `packet_type` for connection `conn_id`.
    fn forward(
        client: SocketAddr,
        via: Option<SocketAddr>,
        packet_type: u8,
        conn_id: u64,
    ) -> Vec<u8> {
        let mut head = [0u8; MAX_HEADER_LEN];
        let len = EncapRepr::new(client)
            .emit_via(via, &mut head)
            .expect("header");
        let mut d = head[..len].to_vec();
        d.extend_from_slice(&[1, packet_type]);
        d.extend_from_slice(&conn_id.to_be_bytes());
        d.extend_from_slice(&[0; 40]);
        d
    }

    fn refuse(notice: &[u8]) -> (u64, u8) {
        let (header, body) = Header::parse(notice).expect("a Trickles datagram");
        assert_eq!(header.packet_type, PacketType::Refuse);
        let r = RefuseRepr::parse(&header, body).expect("a REFUSE");
        (r.conn_id, r.code)
    }

    #[test]
    fn a_quoted_request_becomes_a_code_6_refuse_to_its_client_over_ipv4_and_ipv6() {
        let table = table();
        let mut out = Vec::new();
        for client in ["198.18.0.7:40000", "[2001:2::7]:40000"] {
            let client = addr(client);
            for packet_type in [1, 2] {
                let quoted = forward(client, None, packet_type, 0xfeed);
                assert_eq!(notice_for(&quoted, &table, &mut out), Some(client));
                assert_eq!(refuse(&out), (0xfeed, CODE_SERVER_UNREACHABLE));
            }
        }
    }

    #[test]
    fn a_quote_that_came_through_a_relay_goes_back_through_it_encapsulated() {
        let (client, via) = (addr("198.18.0.7:40000"), addr("198.18.1.1:9000"));
        let mut out = Vec::new();
        let quoted = forward(client, Some(via), 2, 9);
        assert_eq!(notice_for(&quoted, &table(), &mut out), Some(via));
        let (header, inner) = EncapRepr::parse(&out).expect("encapsulated");
        assert_eq!(header.peer, client);
        assert_eq!(refuse(inner), (9, CODE_SERVER_UNREACHABLE));
    }

    #[test]
    fn replies_truncated_quotes_and_quotes_naming_a_backend_get_no_notice() {
        let table = table();
        let mut out = Vec::new();
        let client = addr("198.18.0.7:40000");
        let response = forward(client, None, 3, 9);
        assert_eq!(notice_for(&response, &table, &mut out), None, "a RESPONSE");
        let request = forward(client, None, 2, 9);
        assert_eq!(
            notice_for(&request[..14], &table, &mut out),
            None,
            "truncated"
        );
        assert_eq!(notice_for(b"garbage", &table, &mut out), None);
        let backend = table.backends[1].address;
        let looped = forward(backend, None, 2, 9);
        assert_eq!(
            notice_for(&looped, &table, &mut out),
            None,
            "a backend as client"
        );
    }

    #[test]
    fn notices_are_bounded_by_the_bucket() {
        let mut errors = BackendErrors::default();
        let now = Instant::now();
        let granted = (0..10_000).filter(|_| errors.take_token(now)).count();
        assert_eq!(granted, NOTICE_BURST as usize);
        let later = now + std::time::Duration::from_millis(10);
        let more = (0..10_000).filter(|_| errors.take_token(later)).count();
        assert_eq!(more, 10, "1,000 a second");
    }
}
