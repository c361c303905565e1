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
//! Tried and left out: forwarding the quoted requests again once the table changed. It sent
//! them (a Trickles request carries its connection's state, so any replica answers it), but a
//! client's stall did not shorten in the loopback test: the kernel limits the ICMP it sends
//! (1,000 a second, a burst of 50, and per destination 6 then 1 a second), so most requests
//! lost with the replica are never quoted back, and the client still waits for its timer.

use std::net::UdpSocket;

use tokio::sync::mpsc::UnboundedSender;
use trickles_netfn::udp::error_queue;

use crate::controller::ControlMessage;
use crate::core::ForwardingTable;

/// Errors read per call: the queue is drained over several calls under a flood.
const ERRORS_PER_CALL: usize = 64;
/// Bytes of a quoted datagram read (only its destination is used).
const QUOTED_LEN: usize = 64;

/// One worker's reader of its socket's ICMP errors (see the module documentation).
#[derive(Debug)]
pub struct BackendErrors {
    quoted: Vec<u8>,
}

impl Default for BackendErrors {
    fn default() -> Self {
        BackendErrors {
            quoted: vec![0; QUOTED_LEN],
        }
    }
}

impl BackendErrors {
    /// Reads the socket's queued ICMP errors; each "unreachable" for a backend of `table` is
    /// told to the controller. Returns how many there were.
    pub fn read(
        &mut self,
        socket: &UdpSocket,
        table: &ForwardingTable,
        control: &UnboundedSender<ControlMessage>,
    ) -> u64 {
        let mut heard = 0;
        for _ in 0..ERRORS_PER_CALL {
            let unreachable = match error_queue::recv_error(socket, &mut self.quoted) {
                Ok(Some(unreachable)) => unreachable,
                Ok(None) => continue,
                Err(_) => break,
            };
            let backend = unreachable.destination;
            if table.backends.iter().any(|b| b.address == backend) {
                heard += 1;
                let _ = control.send(ControlMessage::Unreachable(backend));
            }
        }
        heard
    }
}
