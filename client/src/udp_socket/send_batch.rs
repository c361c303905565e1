//! One `sendmmsg(2)` call over the client's queued [`Transmit`]s, reporting `WouldBlock`.
//!
//! `trickles-netfn`'s `SendBatch` (and the server's) loop until every datagram is either sent
//! or counted as refused: right for their blocking worker sockets, wrong for the client's
//! non-blocking tokio socket, where a full send buffer (`EAGAIN`) must make the driver wait
//! for writability rather than drop requests. Neither exposes its single call, so this is that
//! call alone: it returns how many datagrams the kernel took, or the error the first one got,
//! and leaves retrying and waiting to [`super::ClientSocket::send_all`].
//!
//! The headers are allocated once and reused; nothing is allocated per datagram.

use std::io;
use std::mem::zeroed;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use socket2::SockAddr;
use trickles::Transmit;
use trickles_netfn::udp::BATCH_LEN;

/// Reusable `sendmmsg` headers for up to [`BATCH_LEN`] datagrams per call.
pub struct SendBatch {
    addresses: Vec<SockAddr>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    /// Headers for [`BATCH_LEN`] datagrams.
    pub fn new() -> Self {
        SendBatch {
            addresses: Vec::with_capacity(BATCH_LEN),
            // SAFETY: all-zero iovec and mmsghdr are valid values of these plain C structs.
            iovecs: vec![unsafe { zeroed() }; BATCH_LEN],
            headers: vec![unsafe { zeroed() }; BATCH_LEN],
        }
    }

    /// Sends the first [`BATCH_LEN`] (or fewer) of `transmits` in one call; returns how many the
    /// kernel accepted (at least one), or the error of the first one (`WouldBlock` when the
    /// send buffer is full). An empty `transmits` sends nothing and returns 0.
    pub fn send_once(&mut self, socket: &UdpSocket, transmits: &[Transmit]) -> io::Result<usize> {
        let chunk = &transmits[..transmits.len().min(BATCH_LEN)];
        if chunk.is_empty() {
            return Ok(0);
        }
        self.addresses.clear();
        self.addresses
            .extend(chunk.iter().map(|t| SockAddr::from(t.destination)));
        for (i, transmit) in chunk.iter().enumerate() {
            self.iovecs[i] = libc::iovec {
                // sendmmsg only reads through this pointer.
                iov_base: transmit.payload.as_ptr() as *mut libc::c_void,
                iov_len: transmit.payload.len(),
            };
            let header = &mut self.headers[i];
            header.msg_hdr.msg_name = self.addresses[i].as_ptr() as *mut libc::c_void;
            header.msg_hdr.msg_namelen = self.addresses[i].len();
            header.msg_hdr.msg_iov = &mut self.iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = std::ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: the first `chunk.len()` headers point at addresses and iovecs owned by `self`
        // and at payloads borrowed from `chunk`, all alive and unmoved for the whole call.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                chunk.len() as libc::c_uint,
                0,
            )
        };
        match sent {
            n if n < 0 => Err(io::Error::last_os_error()),
            // sendmmsg with a non-empty vector sends at least one datagram or fails.
            0 => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n as usize),
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
