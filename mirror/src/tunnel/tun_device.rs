//! A Linux TUN device: whole IP packets in and out of a file descriptor.
//!
//! Opened from `/dev/net/tun` with `TUNSETIFF` (`IFF_TUN | IFF_NO_PI`: layer-3 packets, no
//! packet-information prefix), non-blocking. Creating one needs `CAP_NET_ADMIN`. The device
//! disappears when the descriptor is closed. Addresses, MTU and routes are set with `ip(8)`
//! ([`TunDevice::configure`]) or by whoever runs the endpoint.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;

/// An open TUN device.
#[derive(Debug)]
pub struct TunDevice {
    file: File,
    name: String,
}

impl TunDevice {
    /// Create (or attach to) the TUN device `name` (at most 15 bytes; `%d` picks a number).
    pub fn create(name: &str) -> io::Result<Self> {
        // SAFETY: all-zero bytes are a valid ifreq.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.is_empty() || name.len() >= request.ifr_name.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TUN device name `{name}` must be 1 to 15 bytes"),
            ));
        }
        for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        // SAFETY: TUNSETIFF reads and writes one ifreq, which lives for the call.
        let result = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        let name: String = request
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8 as char)
            .collect();
        Ok(TunDevice { file, name })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read one IP packet; `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Write one IP packet.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }

    /// Give the device a point-to-point IPv4 address, an MTU, and bring it up (runs `ip`).
    pub fn configure(&self, local: Ipv4Addr, remote: Ipv4Addr, mtu: u16) -> io::Result<()> {
        run_ip(&[
            "addr",
            "add",
            &local.to_string(),
            "peer",
            &remote.to_string(),
            "dev",
            &self.name,
        ])?;
        run_ip(&["link", "set", &self.name, "mtu", &mtu.to_string(), "up"])
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Run `ip ARGS`, turning a failure into an error that quotes the command.
pub fn run_ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
