//! What the network says about our datagrams: ICMP "destination unreachable" read from the
//! socket's error queue (`IP_RECVERR` / `IPV6_RECVERR`, `recvmsg(2)` with `MSG_ERRQUEUE`).
//!
//! An unconnected UDP socket hears nothing of ICMP errors unless it asks: with the option on,
//! the kernel queues each error with the datagram it quotes (our own payload, as far as the
//! router quoted it), the address it was sent to, and the ICMP type and code; `epoll` reports
//! the queue as `EPOLLERR`. The driver reads it to learn *at once* that a server is gone (the
//! killed process's port answers "port unreachable"), instead of waiting for a timer.
//!
//! Only "unreachable" is reported ([`Unreachable`]): ICMPv4 type 3 (but not code 4,
//! "fragmentation needed", which is path MTU news) and ICMPv6 type 1. Everything else on the
//! queue (a local `EMSGSIZE`, time exceeded...) is read and skipped. Nothing here is trusted:
//! ICMP is easy to forge, so the client's core only acts on a quoted datagram that is one of its
//! own, at a bounded pace (`trickles::client::unreachable`), and the balancer only re-probes the
//! backend named and re-forwards the quoted request once the table changed.
//!
//! **Why by hand.** No library we use reads the error queue (socket2 sets options but has no
//! `MSG_ERRQUEUE` receive with control messages; quinn-udp reads ECN and GRO control messages,
//! not errors), so this is one `recvmsg` and a walk over its control messages with `libc`.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// ICMPv4 "destination unreachable".
const ICMP_DEST_UNREACH: u8 = 3;
/// ICMPv4 unreachable code "fragmentation needed": path MTU discovery, not unreachability.
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 "destination unreachable".
const ICMP6_DST_UNREACH: u8 = 1;
/// Room for the control messages of one error (the extended error and its offender address).
const CONTROL_LEN: usize = 256;

/// One "destination unreachable" for a datagram this socket sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// Where the datagram was sent.
    pub destination: SocketAddr,
    /// How many bytes of the quoted datagram are in the caller's buffer.
    pub quoted_len: usize,
    /// The ICMP (or ICMPv6) code: 3 or 4 "port unreachable", 1 or 3 "host/address unreachable".
    pub code: u8,
}

/// Asks the kernel to queue ICMP errors for this socket (of the given family).
pub fn enable(socket: &UdpSocket, ipv6: bool) -> io::Result<()> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    let on: libc::c_int = 1;
    // SAFETY: a valid descriptor, and a pointer to an int of the length given.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether a send or receive failed only because an ICMP error for an earlier datagram was
/// pending on the socket (the error is on the queue; the call may be made again).
pub fn is_pending_icmp_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH)
    )
}

/// Reads one entry of the error queue without waiting: `Ok(Some(_))` for an unreachable (its
/// quoted datagram in `quoted[..quoted_len]`), `Ok(None)` for any other entry (read and
/// dropped), `WouldBlock` when the queue is empty.
pub fn recv_error(socket: &UdpSocket, quoted: &mut [u8]) -> io::Result<Option<Unreachable>> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: quoted.as_mut_ptr().cast(),
        iov_len: quoted.len(),
    };
    // SAFETY: zero is a valid msghdr (null pointers, zero lengths), filled in below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name.as_mut_ptr().cast();
    header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `header` points into a live buffer of the length it states.
    let read = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut header,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    let Ok(read) = usize::try_from(read) else {
        return Err(io::Error::last_os_error());
    };
    // SAFETY: the kernel wrote `msg_namelen` bytes of a socket address into `name`.
    let destination = unsafe { socket_addr(name.as_ptr(), header.msg_namelen) };
    let extended = extended_error(&header);
    Ok(match (destination, extended) {
        (Some(destination), Some(error)) if is_unreachable(&error) => Some(Unreachable {
            destination,
            quoted_len: read.min(quoted.len()),
            code: error.ee_code,
        }),
        _ => None,
    })
}

/// Whether an extended error is an ICMP or ICMPv6 "destination unreachable".
fn is_unreachable(error: &libc::sock_extended_err) -> bool {
    match error.ee_origin {
        libc::SO_EE_ORIGIN_ICMP => {
            error.ee_type == ICMP_DEST_UNREACH && error.ee_code != ICMP_FRAG_NEEDED
        }
        libc::SO_EE_ORIGIN_ICMP6 => error.ee_type == ICMP6_DST_UNREACH,
        _ => false,
    }
}

/// The `sock_extended_err` among the control messages of a `MSG_ERRQUEUE` receive.
fn extended_error(header: &libc::msghdr) -> Option<libc::sock_extended_err> {
    // SAFETY: `header` was filled by `recvmsg`; the CMSG_* helpers stay within
    // `msg_control[..msg_controllen]`, and each message is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            let is_error = (level == libc::IPPROTO_IP && kind == libc::IP_RECVERR)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR);
            let room = (*cmsg).cmsg_len as usize;
            if is_error
                && room >= libc::CMSG_LEN(size_of::<libc::sock_extended_err>() as u32) as usize
            {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>();
                return Some(data.read_unaligned());
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

/// A `SocketAddr` from a kernel-written socket address of `len` bytes (IPv4 or IPv6 only).
///
/// # Safety
/// `storage` must point to at least `len` initialised bytes of a socket address.
unsafe fn socket_addr(
    storage: *const libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    // SAFETY (for the reads below): the family says which structure the kernel wrote, and
    // its length was checked.
    match i32::from(unsafe { (*storage).ss_family }) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            let addr = unsafe { storage.cast::<libc::sockaddr_in>().read_unaligned() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(addr.sin_addr.s_addr).into(),
                u16::from_be(addr.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            let addr = unsafe { storage.cast::<libc::sockaddr_in6>().read_unaligned() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                addr.sin6_addr.s6_addr.into(),
                u16::from_be(addr.sin6_port),
                addr.sin6_flowinfo,
                addr.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};

    /// A port nothing listens on: bind one, note it, close it.
    fn closed_port(ip: std::net::IpAddr) -> SocketAddr {
        let socket = UdpSocket::bind((ip, 0)).expect("bind");
        socket.local_addr().expect("addr")
    }

    /// Polls the error queue until an entry arrives (loopback answers within microseconds;
    /// the bound is generous for a loaded machine).
    fn first_error(socket: &UdpSocket, quoted: &mut [u8]) -> io::Result<Option<Unreachable>> {
        let started = Instant::now();
        loop {
            match recv_error(socket, quoted) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "no error queued"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }

    fn a_datagram_to_a_closed_port_comes_back_as_port_unreachable(ip: std::net::IpAddr) {
        let dead = closed_port(ip);
        let socket = UdpSocket::bind((ip, 0)).expect("bind");
        enable(&socket, ip.is_ipv6()).expect("enable");
        socket.send_to(b"hello, anyone?", dead).expect("send");
        let mut quoted = [0u8; 64];
        let error = first_error(&socket, &mut quoted)
            .expect("read")
            .expect("an unreachable");
        assert_eq!(error.destination, dead);
        assert_eq!(&quoted[..error.quoted_len], b"hello, anyone?");
        assert_eq!(error.code, if ip.is_ipv6() { 4 } else { 3 });
        let empty = recv_error(&socket, &mut quoted).expect_err("one error, read once");
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_datagram_to_a_closed_ipv4_port_comes_back_as_port_unreachable() {
        a_datagram_to_a_closed_port_comes_back_as_port_unreachable(Ipv4Addr::LOCALHOST.into());
    }

    #[test]
    fn a_datagram_to_a_closed_ipv6_port_comes_back_as_port_unreachable() {
        a_datagram_to_a_closed_port_comes_back_as_port_unreachable(Ipv6Addr::LOCALHOST.into());
    }

    #[test]
    fn an_empty_queue_is_would_block() {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        enable(&socket, false).expect("enable");
        let error = recv_error(&socket, &mut [0u8; 16]).expect_err("empty");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }
}
