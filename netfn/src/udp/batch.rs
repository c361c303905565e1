//! Batched UDP receive and send with Linux `recvmmsg(2)` / `sendmmsg(2)` through `libc`.
//!
//! One system call moves up to [`BATCH_LEN`] datagrams each way, which is most of the cost of a
//! userspace packet forwarder. [`RecvBatch`] owns its buffers (allocated once, reused for every
//! batch). [`SendBatch`] sends [`Outgoing`] datagrams made of two borrowed parts, a `head` and a
//! `body`, as two iovecs: a balancer prepends an encapsulation header to a datagram it received
//! without copying it, and strips one by sending a sub-slice. A datagram longer than the receive
//! slot is flagged `truncated` (the kernel sets `MSG_TRUNC`) so the caller can drop it.
//!
//! We call `libc` directly rather than use `quinn-udp`: no GSO/GRO (each forwarded datagram has
//! its own destination), no ECN or packet-info control messages; the two calls with their
//! buffers are short and easy to audit. The server, the balancer and the mirror all use it.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::SockAddr;

/// Datagrams moved per system call.
pub const BATCH_LEN: usize = 32;
/// The largest datagram a Trickles end host sends: a HELLO padded to draw a first window of
/// jumbo packets (`trickles::wire::hello::MAX_HELLO_PADDING`; a test in the mirror checks they
/// agree).
pub const LARGEST_END_HOST_DATAGRAM: usize = 9216;
/// The most an encapsulation header with its options adds in front of a datagram (its length
/// is one byte): what the mirror shim or a balancer may put in front of the largest HELLO.
pub const MAX_ENCAPSULATION_LEN: usize = 255;
/// Default receive buffer per datagram: the largest padded HELLO, encapsulated (Trickles
/// packets are at most about 1.4 kB on a 1500-byte path; jumbo frames fit too). Anything
/// longer is truncated, and counted as such.
pub const DEFAULT_SLOT_LEN: usize = LARGEST_END_HOST_DATAGRAM + MAX_ENCAPSULATION_LEN;

/// One received datagram, borrowed from a [`RecvBatch`].
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    /// The sender, `None` for an address family other than IPv4 and IPv6.
    pub from: Option<SocketAddr>,
    /// The payload (only its first slot-length bytes when `truncated`).
    pub payload: &'a [u8],
    /// The datagram was longer than the slot.
    pub truncated: bool,
}

/// Reusable buffers for `recvmmsg`.
pub struct RecvBatch {
    slot_len: usize,
    buffers: Vec<u8>,
    addresses: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Buffers for [`BATCH_LEN`] datagrams of up to [`DEFAULT_SLOT_LEN`] bytes.
    pub fn new() -> Self {
        Self::with_slot_len(DEFAULT_SLOT_LEN)
    }

    /// Buffers for [`BATCH_LEN`] datagrams of up to `slot_len` bytes (at least 1).
    pub fn with_slot_len(slot_len: usize) -> Self {
        let slot_len = slot_len.max(1);
        RecvBatch {
            slot_len,
            buffers: vec![0u8; BATCH_LEN * slot_len],
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all
            // zero bytes is a valid value.
            addresses: vec![unsafe { zeroed() }; BATCH_LEN],
            iovecs: vec![unsafe { zeroed() }; BATCH_LEN],
            headers: vec![unsafe { zeroed() }; BATCH_LEN],
            received: 0,
        }
    }

    /// The receive slot length.
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Receive at least one and up to [`BATCH_LEN`] datagrams. Blocks until the first one
    /// arrives or the socket's read timeout expires (`WouldBlock`); on a non-blocking socket
    /// returns `WouldBlock` at once when nothing is queued.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received = 0;
        for i in 0..BATCH_LEN {
            self.iovecs[i] = libc::iovec {
                iov_base: self.buffers[i * self.slot_len..].as_mut_ptr().cast(),
                iov_len: self.slot_len,
            };
            let header = &mut self.headers[i];
            header.msg_hdr.msg_name =
                (&mut self.addresses[i] as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = &mut self.iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = std::ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by `self`, which outlive the call and
        // are not otherwise borrowed; the lengths given match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH_LEN as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// Number of datagrams the last [`RecvBatch::recv`] returned.
    pub fn len(&self) -> usize {
        self.received
    }

    /// True when the last receive returned nothing.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// The `index`th datagram of the last receive.
    pub fn get(&self, index: usize) -> Option<Received<'_>> {
        if index >= self.received {
            return None;
        }
        let header = &self.headers[index];
        let length = (header.msg_len as usize).min(self.slot_len);
        let start = index * self.slot_len;
        Some(Received {
            from: socket_addr(&self.addresses[index], header.msg_hdr.msg_namelen),
            payload: &self.buffers[start..start + length],
            truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }

    /// The datagrams of the last receive, in order.
    pub fn iter(&self) -> impl Iterator<Item = Received<'_>> {
        (0..self.received).filter_map(move |i| self.get(i))
    }
}

/// Convert a kernel socket address into a `SocketAddr` (IPv4 and IPv6 only).
fn socket_addr(storage: &libc::sockaddr_storage, length: libc::socklen_t) -> Option<SocketAddr> {
    let length = length as usize;
    match storage.ss_family as libc::c_int {
        libc::AF_INET if length >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough and suitably aligned for.
            let v4 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if length >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// One datagram to send: `head` then `body` (either may be empty), to `destination`.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// Where it goes.
    pub destination: SocketAddr,
    /// First part (an encapsulation header, or empty).
    pub head: &'a [u8],
    /// Second part (the datagram itself).
    pub body: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// A datagram of one part.
    pub fn new(destination: SocketAddr, body: &'a [u8]) -> Self {
        Outgoing {
            destination,
            head: &[],
            body,
        }
    }

    /// A datagram of two parts.
    pub fn with_head(destination: SocketAddr, head: &'a [u8], body: &'a [u8]) -> Self {
        Outgoing {
            destination,
            head,
            body,
        }
    }

    /// Its length on the wire (UDP payload).
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// True for an empty datagram.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one [`SendBatch::send`] achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Datagrams the kernel accepted.
    pub packets: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Datagrams refused (and skipped).
    pub errors: u64,
}

/// Reusable headers for `sendmmsg`.
pub struct SendBatch {
    addresses: Vec<SockAddr>,
    iovecs: Vec<[libc::iovec; 2]>,
    headers: Vec<libc::mmsghdr>,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    /// Headers for [`BATCH_LEN`] datagrams per call.
    pub fn new() -> Self {
        SendBatch {
            addresses: Vec::with_capacity(BATCH_LEN),
            // SAFETY: all-zero iovec and mmsghdr are valid values.
            iovecs: vec![unsafe { zeroed() }; BATCH_LEN],
            headers: vec![unsafe { zeroed() }; BATCH_LEN],
        }
    }

    /// Send every datagram, [`BATCH_LEN`] per system call. A datagram the kernel refuses is
    /// counted in [`SendOutcome::errors`] and skipped; sending goes on with the next one.
    pub fn send(&mut self, socket: &UdpSocket, datagrams: &[Outgoing<'_>]) -> SendOutcome {
        self.send_each(socket, datagrams, |d| *d)
    }

    /// [`send`](Self::send) for any queue of the caller's own datagram type, viewed as an
    /// [`Outgoing`] by `view`: nothing is collected or copied on the way to the kernel.
    pub fn send_each<T>(
        &mut self,
        socket: &UdpSocket,
        items: &[T],
        view: impl for<'a> Fn(&'a T) -> Outgoing<'a>,
    ) -> SendOutcome {
        let mut outcome = SendOutcome::default();
        let mut rest = items;
        let mut pending_errors = 0;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(BATCH_LEN)];
            match self.send_once_each(socket, chunk, &view) {
                Ok(sent) => {
                    outcome.packets += sent as u64;
                    outcome.bytes += chunk[..sent]
                        .iter()
                        .map(|d| view(d).len() as u64)
                        .sum::<u64>();
                    rest = &rest[sent..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An ICMP error for an earlier datagram, reported (and cleared) by this call on
                // a socket that asked for them: not this datagram's fault, so it is sent again
                // (a bounded number of times: each call clears one error).
                Err(e)
                    if super::error_queue::is_pending_icmp_error(&e)
                        && pending_errors < BATCH_LEN =>
                {
                    pending_errors += 1;
                }
                Err(e) => {
                    // The first datagram of the chunk was refused (no route, too big, full
                    // buffer on a non-blocking socket, ...).
                    tracing::trace!(destination = %view(&chunk[0]).destination, error = %e, "send failed");
                    outcome.errors += 1;
                    rest = &rest[1..];
                }
            }
        }
        outcome
    }

    /// One `sendmmsg` call over the first [`BATCH_LEN`] (or fewer) of `datagrams`: how many the
    /// kernel accepted, or the error the first one got (`WouldBlock` on a full non-blocking
    /// socket). Nothing is retried or skipped: callers with non-blocking sockets (the client)
    /// wait for writability themselves; [`SendBatch::send`] is the blocking-socket loop.
    pub fn send_once(
        &mut self,
        socket: &UdpSocket,
        datagrams: &[Outgoing<'_>],
    ) -> io::Result<usize> {
        self.send_once_each(socket, datagrams, |d| *d)
    }

    /// [`send_once`](Self::send_once) for any datagram type, viewed by `view` (see
    /// [`send_each`](Self::send_each)).
    pub fn send_once_each<T>(
        &mut self,
        socket: &UdpSocket,
        items: &[T],
        view: impl for<'a> Fn(&'a T) -> Outgoing<'a>,
    ) -> io::Result<usize> {
        let chunk = &items[..items.len().min(BATCH_LEN)];
        if chunk.is_empty() {
            return Ok(0);
        }
        self.addresses.clear();
        self.addresses
            .extend(chunk.iter().map(|d| SockAddr::from(view(d).destination)));
        for (i, item) in chunk.iter().enumerate() {
            let datagram = view(item);
            // sendmmsg only reads through these pointers.
            self.iovecs[i] = [
                libc::iovec {
                    iov_base: datagram.head.as_ptr() as *mut libc::c_void,
                    iov_len: datagram.head.len(),
                },
                libc::iovec {
                    iov_base: datagram.body.as_ptr() as *mut libc::c_void,
                    iov_len: datagram.body.len(),
                },
            ];
            let header = &mut self.headers[i];
            header.msg_hdr.msg_name = self.addresses[i].as_ptr() as *mut libc::c_void;
            header.msg_hdr.msg_namelen = self.addresses[i].len();
            header.msg_hdr.msg_iov = self.iovecs[i].as_mut_ptr();
            header.msg_hdr.msg_iovlen = 2;
            header.msg_hdr.msg_control = std::ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: the first `chunk.len()` headers point at addresses and iovecs owned by `self`
        // and at payloads borrowed from `chunk`, all alive for the duration of the call.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                chunk.len() as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(local: &str) -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind(local).expect("bind a");
        let b = UdpSocket::bind(local).expect("bind b");
        b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        (a, b)
    }

    fn round_trip(local: &str) {
        let (a, b) = pair(local);
        let to = b.local_addr().expect("addr");
        let heads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![0xAA; (i % 3) as usize]).collect();
        let bodies: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100 + i as usize]).collect();
        let outgoing: Vec<Outgoing<'_>> = heads
            .iter()
            .zip(&bodies)
            .map(|(h, b)| Outgoing::with_head(to, h, b))
            .collect();
        let outcome = SendBatch::new().send(&a, &outgoing);
        assert_eq!(outcome.packets, 40);
        assert_eq!(outcome.errors, 0);
        let expected_bytes: usize = outgoing.iter().map(Outgoing::len).sum();
        assert_eq!(outcome.bytes, expected_bytes as u64);

        let mut batch = RecvBatch::new();
        let mut seen = Vec::new();
        while seen.len() < 40 {
            batch.recv(&b).expect("recv");
            for datagram in batch.iter() {
                assert_eq!(datagram.from, Some(a.local_addr().expect("addr")));
                assert!(!datagram.truncated);
                seen.push(datagram.payload.to_vec());
            }
        }
        for (i, payload) in seen.iter().enumerate() {
            let mut expected = heads[i].clone();
            expected.extend_from_slice(&bodies[i]);
            assert_eq!(payload, &expected);
        }
    }

    #[test]
    fn two_part_datagrams_cross_ipv4_loopback_intact() {
        round_trip("127.0.0.1:0");
    }

    #[test]
    fn two_part_datagrams_cross_ipv6_loopback_intact() {
        if UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipped");
            return;
        }
        round_trip("[::1]:0");
    }

    #[test]
    fn oversized_datagram_is_flagged_truncated() {
        let (a, b) = pair("127.0.0.1:0");
        a.send_to(&[1u8; 300], b.local_addr().expect("addr"))
            .expect("send");
        let mut batch = RecvBatch::with_slot_len(256);
        assert_eq!(batch.recv(&b).expect("recv"), 1);
        let datagram = batch.get(0).expect("datagram");
        assert!(datagram.truncated);
        assert_eq!(datagram.payload.len(), 256);
        assert!(batch.get(1).is_none());
    }

    #[test]
    fn refused_datagram_is_skipped_and_the_rest_sent() {
        let (a, b) = pair("127.0.0.1:0");
        let to = b.local_addr().expect("addr");
        let big = vec![2u8; 70_000];
        let outgoing = [
            Outgoing::new(to, &[1]),
            // Larger than any UDP datagram: EMSGSIZE.
            Outgoing::new(to, &big),
            Outgoing::new(to, &[3]),
        ];
        let outcome = SendBatch::new().send(&a, &outgoing);
        assert_eq!((outcome.packets, outcome.errors), (2, 1));
    }
}
