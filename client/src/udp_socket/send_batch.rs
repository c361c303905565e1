//! The client's `sendmmsg` step: [`trickles_netfn::udp::SendBatch::send_once`] over the
//! connections' queued [`Transmit`]s.
//!
//! netfn's `SendBatch::send` loops until every datagram is sent or counted as refused: right for
//! blocking worker sockets, wrong for the client's non-blocking tokio socket, where a full send
//! buffer (`EAGAIN`) must make the driver wait for writability rather than drop requests. So the
//! client calls netfn's single call, which reports `WouldBlock`, and leaves retrying and waiting
//! to [`super::ClientSocket::send_all`]. The only work here is viewing `Transmit`s as netfn's
//! `Outgoing` datagrams (one small vector per call, nothing per datagram).

use std::io;
use std::net::UdpSocket;

use trickles::Transmit;
#[cfg(test)]
use trickles_netfn::udp::BATCH_LEN;
use trickles_netfn::udp::{Outgoing, SendBatch as NetfnSendBatch};

/// Reusable `sendmmsg` headers (netfn's) for the client's transmits.
#[derive(Default)]
pub struct SendBatch {
    inner: NetfnSendBatch,
}

impl SendBatch {
    /// Headers for `BATCH_LEN` datagrams.
    pub fn new() -> Self {
        SendBatch {
            inner: NetfnSendBatch::new(),
        }
    }

    /// Sends the first `BATCH_LEN` (or fewer) of `transmits` in one call; returns how many the
    /// kernel accepted (at least one), or the error of the first one (`WouldBlock` when the
    /// send buffer is full). An empty `transmits` sends nothing and returns 0.
    pub fn send_once(&mut self, socket: &UdpSocket, transmits: &[Transmit]) -> io::Result<usize> {
        let sent = self.inner.send_once_each(socket, transmits, |t| {
            Outgoing::new(t.destination, &t.payload)
        })?;
        match sent {
            // sendmmsg with a non-empty vector sends at least one datagram or fails.
            0 if !transmits.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        socket
    }

    fn transmits_to(destination: std::net::SocketAddr, count: u8) -> Vec<Transmit> {
        (0..count)
            .map(|i| Transmit {
                destination,
                payload: vec![i; 50 + usize::from(i)],
            })
            .collect()
    }

    #[test]
    fn one_call_sends_at_most_a_batch_in_order() {
        let (sender, to) = (receiver(), receiver());
        let transmits = transmits_to(to.local_addr().expect("addr"), 40);
        let sent = SendBatch::new()
            .send_once(&sender, &transmits)
            .expect("send");
        assert_eq!(sent, BATCH_LEN);
        let mut buf = [0u8; 512];
        for expected in &transmits[..BATCH_LEN] {
            let (len, from) = to.recv_from(&mut buf).expect("recv");
            assert_eq!(from, sender.local_addr().expect("addr"));
            assert_eq!(&buf[..len], &expected.payload[..]);
        }
    }

    #[test]
    fn refused_first_datagram_is_its_error_and_nothing_is_sent() {
        let (sender, to) = (receiver(), receiver());
        let mut transmits = transmits_to(to.local_addr().expect("addr"), 2);
        // Larger than any UDP datagram: EMSGSIZE.
        transmits[0].payload = vec![0; 70_000];
        let error = SendBatch::new()
            .send_once(&sender, &transmits)
            .expect_err("refused");
        assert_ne!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn nothing_to_send_is_zero_sent() {
        let sender = receiver();
        assert_eq!(SendBatch::new().send_once(&sender, &[]).expect("send"), 0);
    }
}
