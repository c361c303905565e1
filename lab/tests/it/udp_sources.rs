//! [`UdpSources`]: counts the UDP datagrams that arrive at one interface of a namespace, by
//! source address and port, with an `AF_PACKET` socket (what tcpdump would show, without
//! needing tcpdump).
//!
//! The socket is `SOCK_DGRAM` (the kernel strips the link header: each packet starts with its
//! IP header) bound to the interface, and keeps only packets addressed to this host
//! (`PACKET_HOST`), so the namespace's own outgoing datagrams are not counted. IPv4 (options
//! allowed) and IPv6 (UDP right after the fixed header, as every datagram here is) are parsed;
//! other packets are ignored. The socket's receive buffer is large enough for a whole test
//! transfer, and the kernel's drop count comes back with the tally, so a test can tell "not
//! seen" from "not sent".

use std::collections::BTreeMap;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use trickles_lab::topology::Host;

/// Receive buffer of the packet socket.
const RECEIVE_BUFFER: libc::c_int = 32 << 20;
/// How often the sniffing thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// What arrived from one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// UDP datagrams.
    pub datagrams: u64,
    /// Their UDP payload bytes.
    pub payload_bytes: u64,
}

/// Everything counted between [`UdpSources::start`] and [`UdpSources::finish`].
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// UDP datagrams by source address and port.
    pub by_source: BTreeMap<SocketAddr, Seen>,
    /// Packets the kernel dropped because the socket's buffer was full.
    pub kernel_drops: u32,
}

/// A running count of the UDP datagrams arriving at one interface.
pub struct UdpSources {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<Tally>>,
}

impl UdpSources {
    /// Starts counting at `interface` of `host`; returns once the socket is listening.
    /// Counting stops at [`finish`](Self::finish), or after `limit` at the latest.
    pub fn start(host: &Host, interface: &str, limit: Duration) -> UdpSources {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, listening) = mpsc::channel();
        let interface = interface.to_owned();
        let stopping = stop.clone();
        let inside = host.clone();
        let thread = std::thread::spawn(move || {
            let counted = inside.probe(|| {
                let socket = match open(&interface) {
                    Ok(socket) => socket,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return Err(e);
                    }
                };
                let _ = ready.send(Ok(()));
                count(&socket, &stopping, Instant::now() + limit)
            });
            counted.unwrap_or_else(|| Err(io::Error::other("cannot enter the namespace")))
        });
        match listening.recv() {
            Ok(Ok(())) => UdpSources { stop, thread },
            Ok(Err(reason)) => panic!("packet socket in {}: {reason}", host.role()),
            Err(_) => panic!("the sniffing thread died"),
        }
    }

    /// Stops counting and returns the tally.
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(Ok(tally)) => tally,
            Ok(Err(e)) => panic!("sniffing failed: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// An `AF_PACKET` socket bound to `interface` (of the calling thread's namespace).
fn open(interface: &str) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(interface).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::c_int::from(protocol),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_option(
        &socket,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &RECEIVE_BUFFER,
    )?;
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: POLL.as_micros() as libc::suseconds_t,
    };
    set_option(&socket, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut address: libc::sockaddr_ll = unsafe { zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol;
    address.sll_ifindex = index as libc::c_int;
    // SAFETY: a sockaddr_ll of the size given.
    let bound = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&address as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

/// Counts until `stop` is set or `deadline` passes.
fn count(socket: &OwnedFd, stop: &AtomicBool, deadline: Instant) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut packet = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { zeroed() };
        let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the buffers and lengths match.
        let n = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                packet.as_mut_ptr().cast(),
                packet.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                _ => return Err(error),
            }
        }
        if from.sll_pkttype != libc::PACKET_HOST {
            continue;
        }
        if let Some((source, payload_bytes)) = udp_source(&packet[..n as usize]) {
            let seen = tally.by_source.entry(source).or_default();
            seen.datagrams += 1;
            seen.payload_bytes += payload_bytes;
        }
    }
    // SAFETY: all-zero is a valid tpacket_stats.
    let mut stats: libc::tpacket_stats = unsafe { zeroed() };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: a tpacket_stats of the size given.
    let read = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if read != 0 {
        return Err(io::Error::last_os_error());
    }
    tally.kernel_drops = stats.tp_drops;
    Ok(tally)
}

/// The source and UDP payload length of an IP packet carrying UDP.
fn udp_source(packet: &[u8]) -> Option<(SocketAddr, u64)> {
    let (ip, udp): (IpAddr, &[u8]) = match packet.first()? >> 4 {
        4 => {
            let header_len = usize::from(packet[0] & 0x0F) * 4;
            if packet.len() < 20 || *packet.get(9)? != 17 {
                return None;
            }
            let source: [u8; 4] = packet[12..16].try_into().ok()?;
            (Ipv4Addr::from(source).into(), packet.get(header_len..)?)
        }
        6 => {
            if packet.len() < 40 || packet[6] != 17 {
                return None;
            }
            let source: [u8; 16] = packet[8..24].try_into().ok()?;
            (Ipv6Addr::from(source).into(), &packet[40..])
        }
        _ => return None,
    };
    let port = u16::from_be_bytes(udp.get(0..2)?.try_into().ok()?);
    let length = u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?);
    Some((
        SocketAddr::new(ip, port),
        u64::from(length.saturating_sub(8)),
    ))
}

fn set_option<T>(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and a value of the size given.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::udp_source;

    #[test]
    fn ipv4_and_ipv6_udp_sources_are_read() {
        let mut v4 = vec![
            0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 198, 19, 0, 100, 198, 18, 1, 2,
        ];
        v4.extend_from_slice(&[0x11, 0x51, 0xC3, 0x50, 0, 12, 0, 0, 1, 2, 3, 4]);
        assert_eq!(
            udp_source(&v4),
            Some(("198.19.0.100:4433".parse().expect("addr"), 4))
        );
        let mut v6 = vec![0x60, 0, 0, 0, 0, 10, 17, 64];
        v6.extend_from_slice(
            &"2001:2:ff::100"
                .parse::<std::net::Ipv6Addr>()
                .expect("ip")
                .octets(),
        );
        v6.extend_from_slice(&[0u8; 16]);
        v6.extend_from_slice(&[0x11, 0x51, 0xC3, 0x50, 0, 10, 0, 0, 9, 9]);
        assert_eq!(
            udp_source(&v6),
            Some(("[2001:2:ff::100]:4433".parse().expect("addr"), 2))
        );
        v4[9] = 6;
        assert_eq!(udp_source(&v4), None, "TCP is not counted");
    }
}
