//! Free loopback ports: ask the kernel for an ephemeral port by binding port 0, then release it
//! for the child to bind. (A tiny race with other programs; the lab only runs on loopback.)

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use crate::error::{LabError, Result};

/// A UDP address on `ip` whose port is free now.
pub fn free_udp(ip: IpAddr) -> Result<SocketAddr> {
    let socket = UdpSocket::bind((ip, 0))
        .map_err(|e| LabError::process(format!("finding a free UDP port on {ip}"), e))?;
    socket
        .local_addr()
        .map_err(|e| LabError::process("reading a socket address", e))
}

/// A TCP address on `ip` whose port is free now.
pub fn free_tcp(ip: IpAddr) -> Result<SocketAddr> {
    let listener = TcpListener::bind((ip, 0))
        .map_err(|e| LabError::process(format!("finding a free TCP port on {ip}"), e))?;
    listener
        .local_addr()
        .map_err(|e| LabError::process("reading a socket address", e))
}
