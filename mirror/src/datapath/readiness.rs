//! Waiting for a socket to become readable with microsecond precision.
//!
//! The datapath must wake when the next delayed datagram is due, not only when one arrives. A
//! socket receive timeout (`SO_RCVTIMEO`) is counted in scheduler ticks (several milliseconds
//! on many kernels), far too coarse for a delay emulator whose promise is "base + 2 × delay
//! within 2 ms"; `ppoll(2)` takes a `timespec` and sleeps on a high-resolution timer.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Wait until `socket` has a datagram or `timeout` has passed; true when it is readable (or
/// has an error to report, which the receive will then return). A zero timeout only checks.
pub fn wait_readable(socket: &UdpSocket, timeout: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: one valid pollfd and a valid timespec, both alive for the call; no signal mask.
    let ready = unsafe { libc::ppoll(&mut poll, 1, &timeout, std::ptr::null()) };
    ready > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_about_the_timeout_when_nothing_arrives() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let started = std::time::Instant::now();
        assert!(!wait_readable(&socket, Duration::from_micros(1_500)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_micros(1_500), "{waited:?}");
        assert!(waited < Duration::from_millis(50), "{waited:?}");
    }

    #[test]
    fn a_waiting_datagram_makes_it_readable_at_once() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sender
            .send_to(b"x", socket.local_addr().expect("addr"))
            .expect("send");
        assert!(wait_readable(&socket, Duration::from_secs(5)));
    }
}
