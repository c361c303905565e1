//! [`VipSockets`]: one worker's sockets bound to the direct-return VIPs
//! ([`super::direct_return`]), each with the replies queued for it.
//!
//! Every worker binds its own socket per VIP (`SO_REUSEPORT`, so the workers share the
//! address and a wildcard listen socket on the same port does not conflict), so no socket is
//! shared between threads on the send path. The sockets only send: nothing is addressed to the
//! VIP at a replica (the balancer holds it for the clients), so they are never read, and their
//! receive buffer is kept at the kernel's minimum.
//!
//! Binding fails with `EADDRNOTAVAIL` when the VIP is not on a local interface; the error then
//! says how to add it. With `free_bind` the socket binds anyway and [`host_warnings`] says that
//! the VIP is still missing.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use trickles::Transmit;
use trickles_netfn::udp::{bind_with, BindOptions};
use trickles_netfn::NetfnError;

use super::direct_return::DirectReturnSettings;
use crate::error::ServerError;

/// A socket bound to a VIP and the replies waiting to leave from it.
#[derive(Debug)]
struct VipSocket {
    socket: UdpSocket,
    ipv4: bool,
    queue: Vec<Transmit>,
}

/// One worker's VIP sockets (none without `dsr_vips`).
#[derive(Debug, Default)]
pub struct VipSockets {
    sockets: Vec<VipSocket>,
}

impl VipSockets {
    /// Bind one socket to each VIP of `settings`.
    pub fn bind(settings: &DirectReturnSettings) -> Result<Self, ServerError> {
        let options = BindOptions {
            free_bind: settings.free_bind,
        };
        let mut sockets = Vec::with_capacity(settings.vips.len());
        for vip in &settings.vips {
            let socket = bind_with(*vip, options).map_err(|error| {
                let source = match error {
                    NetfnError::Bind { source, .. } => source,
                    other => io::Error::other(other.to_string()),
                };
                vip_bind_error(*vip, source)
            })?;
            // Never read (see the module documentation): the smallest buffer the kernel allows.
            let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(0);
            sockets.push(VipSocket {
                socket,
                ipv4: vip.is_ipv4(),
                queue: Vec::new(),
            });
        }
        Ok(VipSockets { sockets })
    }

    /// The queue of replies to `client`, if a VIP of its address family is configured.
    pub fn queue_for(&mut self, client: SocketAddr) -> Option<&mut Vec<Transmit>> {
        self.sockets
            .iter_mut()
            .find(|vip| vip.ipv4 == client.is_ipv4())
            .map(|vip| &mut vip.queue)
    }

    /// Each socket with its queue, to send and empty it.
    pub fn queues_mut(&mut self) -> impl Iterator<Item = (&UdpSocket, &mut Vec<Transmit>)> {
        self.sockets
            .iter_mut()
            .map(|vip| (&vip.socket, &mut vip.queue))
    }
}

/// The error for a VIP that could not be bound, with what to do about the usual causes.
pub fn vip_bind_error(vip: SocketAddr, source: io::Error) -> ServerError {
    let ip = vip.ip();
    let hint = match source.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => {
            let add = match ip {
                IpAddr::V4(_) => format!(
                    "`ip addr add {ip}/32 dev lo`, and keep the replica from answering ARP for \
                     it (`sysctl -w net.ipv4.conf.all.arp_ignore=1 \
                     net.ipv4.conf.all.arp_announce=2`)"
                ),
                // Linux answers neighbour solicitations only for addresses of the receiving
                // interface, so an address on lo is not announced; nodad: usable at once.
                IpAddr::V6(_) => format!("`ip addr add {ip}/128 dev lo nodad`"),
            };
            format!(
                "; {ip} is not on a local interface: add it to the loopback interface, e.g. \
                 {add}; or pass --dsr-vip-freebind to start before it is added"
            )
        }
        Some(libc::EADDRINUSE) => format!(
            "; another process holds {vip} (a balancer on this host? the VIP's replicas must \
             run on other hosts or network namespaces)"
        ),
        _ => String::new(),
    };
    ServerError::DirectReturnVip {
        addr: vip,
        source,
        hint,
    }
}

/// Warnings about this host for `settings`, given the trusted `balancers`: a VIP bound with
/// free bind that is not local yet; an IPv4 VIP that is also a balancer's address while the
/// kernel drops datagrams whose source is a local address (`accept_local` off everywhere).
pub fn host_warnings(settings: &DirectReturnSettings, balancers: &[SocketAddr]) -> Vec<String> {
    let mut warnings = Vec::new();
    for vip in &settings.vips {
        let ip = vip.ip();
        if settings.free_bind && !is_local(ip) {
            warnings.push(format!(
                "dsr VIP {ip} is not on a local interface yet: direct replies to {} clients {} \
                 until it is added",
                if ip.is_ipv4() { "IPv4" } else { "IPv6" },
                if ip.is_ipv4() {
                    "fail (counted in trickles_server_send_errors_total)"
                } else {
                    "leave from an address this host does not hold"
                }
            ));
        }
        if ip.is_ipv4() && balancers.iter().any(|b| b.ip() == ip) && !accept_local_anywhere() {
            warnings.push(format!(
                "the balancer {ip} forwards from the dsr VIP, which this host now holds too: \
                 Linux drops such datagrams as martians unless net.ipv4.conf.<interface>.\
                 accept_local=1 on the interface they arrive on"
            ));
        }
    }
    warnings
}

/// True when `ip` can be bound without free bind (it is on a local interface).
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// True when some `net.ipv4.conf.*.accept_local` is 1 (or the files cannot be read: then
/// nothing is claimed).
fn accept_local_anywhere() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc/sys/net/ipv4/conf") else {
        return true;
    };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("accept_local"))
            .is_ok_and(|value| value.trim() == "1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 198.18.255.253 is on no interface of a test host (benchmarking range, RFC 2544).
    const ABSENT_VIP: &str = "198.18.255.253:4433";

    fn settings(free_bind: bool) -> DirectReturnSettings {
        DirectReturnSettings {
            vips: vec![ABSENT_VIP.parse().expect("addr")],
            free_bind,
        }
    }

    #[test]
    fn an_absent_vip_fails_with_the_command_that_adds_it() {
        let error = VipSockets::bind(&settings(false)).expect_err("not local");
        let message = error.to_string();
        assert!(message.contains(ABSENT_VIP), "{message}");
        assert!(
            message.contains("ip addr add 198.18.255.253/32 dev lo"),
            "{message}"
        );
        assert!(message.contains("arp_ignore=1"), "{message}");
    }

    #[test]
    fn free_bind_starts_without_the_vip_and_warns() {
        let mut sockets = VipSockets::bind(&settings(true)).expect("free bind");
        let client: SocketAddr = "198.18.0.9:50000".parse().expect("addr");
        assert!(sockets.queue_for(client).is_some());
        let v6_client: SocketAddr = "[2001:2::9]:50000".parse().expect("addr");
        assert!(sockets.queue_for(v6_client).is_none(), "no IPv6 VIP");
        let warnings = host_warnings(&settings(true), &[]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("not on a local interface"));
    }

    #[test]
    fn a_local_vip_sends_from_its_address_and_port() {
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let vip = SocketAddr::from(([127, 0, 0, 1], port));
        let mut sockets = VipSockets::bind(&DirectReturnSettings {
            vips: vec![vip],
            free_bind: false,
        })
        .expect("loopback is local");
        let to = receiver.local_addr().expect("addr");
        for (socket, queue) in sockets.queues_mut() {
            socket.send_to(b"reply", to).expect("send");
            assert!(queue.is_empty());
        }
        let mut buf = [0u8; 16];
        let (len, from) = receiver.recv_from(&mut buf).expect("receive");
        assert_eq!((&buf[..len], from), (&b"reply"[..], vip));
    }
}
