//! Creating the datapath's UDP sockets: one per worker, all bound to the same address with
//! `SO_REUSEPORT` so the kernel spreads incoming datagrams over them by flow hash.
//!
//! IPv6 sockets are `IPV6_V6ONLY`, so `[::]:4433` and `0.0.0.0:4433` can both be bound. Socket
//! buffers are raised to [`SOCKET_BUFFER_LEN`]; the kernel clamps that to `net.core.rmem_max`
//! unless the process may force it (root): a smaller buffer is logged, not fatal. A read
//! timeout ([`POLL_INTERVAL`]) lets a blocked worker notice shutdown and reloads.
//! [`BindOptions::free_bind`] binds an address before it is on a local interface.
//!
//! `SO_REUSEPORT` lets *any* process of the same user join a group, so a second instance of a
//! network function started on an address already served would silently take a share of its
//! traffic. [`bind_group`] therefore first binds a probe socket *without* `SO_REUSEPORT`: it
//! fails with `EADDRINUSE` exactly when something else holds the address (another process, or
//! a wildcard on the same port), and the group is refused with
//! [`NetfnError::AddressInUse`] unless [`PortSharing::WithOtherProcesses`] was asked for.
//! The probe is closed before the group binds (a process starting in that instant could still
//! slip in; its own probe then fails).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::NetfnError;

/// Requested SO_RCVBUF and SO_SNDBUF.
pub const SOCKET_BUFFER_LEN: usize = 4 << 20;
/// Longest a worker blocks in receive before looking at its flags.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Whether a socket group may share its address with other processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortSharing {
    /// Only the workers of this group serve the address: an address already in use is refused.
    #[default]
    Exclusive,
    /// Join whatever `SO_REUSEPORT` group already serves the address (several processes share
    /// the traffic by flow hash). `hint` is not used.
    WithOtherProcesses,
}

/// Bind `count` (at least one) sockets sharing `addr`, refusing an address another process
/// already serves unless `sharing` allows it (`hint`: how the binary asks for sharing, for the
/// error). With port 0 the first socket picks the port and the others join it.
pub fn bind_group(
    addr: SocketAddr,
    count: usize,
    sharing: PortSharing,
    hint: &'static str,
) -> Result<Vec<UdpSocket>, NetfnError> {
    if sharing == PortSharing::Exclusive && addr.port() != 0 {
        probe_unused(addr, hint)?;
    }
    let mut sockets = Vec::with_capacity(count.max(1));
    let mut target = addr;
    for _ in 0..count.max(1) {
        let socket = bind_one(target)?;
        if target.port() == 0 {
            target = socket
                .local_addr()
                .map_err(|source| NetfnError::Bind { addr, source })?;
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

/// What [`bind_with`] sets beyond what every datapath socket gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// `IP_FREEBIND` / `IPV6_FREEBIND`: the address may be bound before it is on a local
    /// interface (a server's VIP added later). Sending from it works once it is local (IPv4
    /// sends fail with "network unreachable" until then).
    pub free_bind: bool,
}

/// One `SO_REUSEPORT` socket bound to `addr`, with large buffers and a [`POLL_INTERVAL`] read
/// timeout.
pub fn bind_one(addr: SocketAddr) -> Result<UdpSocket, NetfnError> {
    bind_with(addr, BindOptions::default())
}

/// [`bind_one`] with `options`.
pub fn bind_with(addr: SocketAddr, options: BindOptions) -> Result<UdpSocket, NetfnError> {
    let bind_error = |source| NetfnError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_error)?;
    socket.set_reuse_port(true).map_err(bind_error)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    if options.free_bind {
        match addr {
            SocketAddr::V4(_) => socket.set_freebind(true),
            SocketAddr::V6(_) => socket.set_freebind_ipv6(true),
        }
        .map_err(bind_error)?;
    }
    enlarge_buffers(&socket, addr);
    socket
        .set_read_timeout(Some(POLL_INTERVAL))
        .map_err(bind_error)?;
    socket.bind(&addr.into()).map_err(bind_error)?;
    Ok(socket.into())
}

/// Bind and close a socket without `SO_REUSEPORT` on `addr`: `EADDRINUSE` means another
/// socket holds it.
fn probe_unused(addr: SocketAddr, hint: &'static str) -> Result<(), NetfnError> {
    let bind_error = |source| NetfnError::Bind { addr, source };
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_error)?;
    if addr.is_ipv6() {
        probe.set_only_v6(true).map_err(bind_error)?;
    }
    match probe.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(NetfnError::AddressInUse { addr, hint })
        }
        Err(e) => Err(bind_error(e)),
    }
}

/// Ask for [`SOCKET_BUFFER_LEN`] in both directions; a privileged process may exceed the
/// sysctl caps with the `*FORCE` variants, which are tried next. Failure is logged only.
fn enlarge_buffers(socket: &Socket, addr: SocketAddr) {
    let wanted = SOCKET_BUFFER_LEN;
    // Linux doubles the size asked for (room for bookkeeping) and reports the doubled value.
    let reported_when_granted = 2 * wanted;
    let enough =
        |granted: std::io::Result<usize>| granted.is_ok_and(|g| g >= reported_when_granted);
    let _ = socket.set_recv_buffer_size(wanted);
    if !enough(socket.recv_buffer_size()) {
        let _ = set_int_option(socket, libc::SO_RCVBUFFORCE, wanted);
    }
    let _ = socket.set_send_buffer_size(wanted);
    if !enough(socket.send_buffer_size()) {
        let _ = set_int_option(socket, libc::SO_SNDBUFFORCE, wanted);
    }
    if !buffers_granted(socket) {
        let (receive, send) = (socket.recv_buffer_size(), socket.send_buffer_size());
        tracing::debug!(
            %addr,
            receive = receive.unwrap_or(0),
            send = send.unwrap_or(0),
            wanted,
            "socket buffers smaller than wanted (raise net.core.rmem_max / wmem_max)"
        );
    }
}

/// True when `socket` got [`SOCKET_BUFFER_LEN`] in both directions. Binding only logs a
/// shortfall at debug level; a binary for which it matters (the server) can warn with this.
pub fn has_requested_buffers(socket: &UdpSocket) -> bool {
    buffers_granted(&socket2::SockRef::from(socket))
}

/// Linux doubles the size asked for (room for bookkeeping) and reports the doubled value.
fn buffers_granted(socket: &Socket) -> bool {
    let reported_when_granted = 2 * SOCKET_BUFFER_LEN;
    let enough =
        |granted: std::io::Result<usize>| granted.is_ok_and(|g| g >= reported_when_granted);
    enough(socket.recv_buffer_size()) && enough(socket.send_buffer_size())
}

/// `setsockopt(SOL_SOCKET, option, value)` for an integer option socket2 does not wrap.
fn set_int_option(socket: &Socket, option: libc::c_int, value: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the size passed.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_of_a_group_share_one_port() {
        let any_port = "127.0.0.1:0".parse().expect("addr");
        let sockets = bind_group(any_port, 3, PortSharing::Exclusive, "x").expect("bind");
        let ports: Vec<u16> = sockets
            .iter()
            .map(|s| s.local_addr().expect("addr").port())
            .collect();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|p| *p == ports[0] && *p != 0));
    }

    #[test]
    fn ipv4_and_ipv6_wildcards_bind_the_same_port() {
        let v4 = bind_one("0.0.0.0:0".parse().expect("addr")).expect("v4");
        let port = v4.local_addr().expect("addr").port();
        if let Err(e) = bind_one(SocketAddr::new("::".parse().expect("ip"), port)) {
            // Only acceptable when the host has no IPv6 at all.
            assert!(
                UdpSocket::bind("[::1]:0").is_err(),
                "IPv6 wildcard could not share the port: {e}"
            );
        }
    }

    #[test]
    fn free_bind_takes_an_address_no_interface_has() {
        // 198.18.255.254 is on no interface of a test host (benchmarking range, RFC 2544).
        let absent: SocketAddr = "198.18.255.254:0".parse().expect("addr");
        let error = bind_one(absent).expect_err("not a local address");
        assert!(error.to_string().contains("198.18.255.254"), "{error}");
        let socket = bind_with(absent, BindOptions { free_bind: true }).expect("free bind");
        assert_eq!(socket.local_addr().expect("addr").ip(), absent.ip());
    }

    #[test]
    fn a_taken_port_is_a_bind_error_naming_the_address() {
        let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        match bind_one(addr) {
            Err(NetfnError::Bind { addr: named, .. }) => assert_eq!(named, addr),
            other => panic!("expected a bind error, got {other:?}"),
        }
    }

    fn loopbacks() -> Vec<SocketAddr> {
        let mut addrs = vec!["127.0.0.1:0".parse().expect("v4")];
        if UdpSocket::bind("[::1]:0").is_ok() {
            addrs.push("[::1]:0".parse().expect("v6"));
        }
        addrs
    }

    #[test]
    fn address_already_served_is_refused_unless_sharing_is_asked_for() {
        for any_port in loopbacks() {
            let first = bind_group(
                any_port,
                2,
                PortSharing::Exclusive,
                ", or pass --share-port",
            )
            .expect("first group");
            let taken = first[0].local_addr().expect("addr");
            let refused = bind_group(taken, 2, PortSharing::Exclusive, ", or pass --share-port")
                .expect_err("a second exclusive group");
            let message = refused.to_string();
            assert!(
                message.contains("address in use by another process")
                    && message.contains(", or pass --share-port")
                    && message.contains(&taken.to_string()),
                "{message}"
            );
            let shared = bind_group(
                taken,
                2,
                PortSharing::WithOtherProcesses,
                ", or pass --share-port",
            )
            .expect("sharing asked for");
            assert_eq!(shared.len(), 2);
        }
    }

    #[test]
    fn address_held_without_reuseport_is_refused_even_when_sharing() {
        let holder = UdpSocket::bind("127.0.0.1:0").expect("holder");
        let taken = holder.local_addr().expect("addr");
        assert!(matches!(
            bind_group(taken, 1, PortSharing::Exclusive, "x"),
            Err(NetfnError::AddressInUse { .. })
        ));
        assert!(matches!(
            bind_group(taken, 1, PortSharing::WithOtherProcesses, "x"),
            Err(NetfnError::Bind { .. })
        ));
    }
}
