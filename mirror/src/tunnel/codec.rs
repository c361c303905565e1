//! What a tunnel endpoint does to packets, without any I/O: wrap an IP packet from the TUN
//! device for the remote endpoint through the mirror, and accept from the mirror only packets
//! the remote endpoint sent.

use std::net::SocketAddr;

use trickles_netfn::{canonical, MirrorRoute};

/// The smallest IP header: anything shorter read from the mirror is not written to the device.
pub const MIN_IP_PACKET: usize = 20;

/// A tunnel between this endpoint and `remote`, through a mirror.
#[derive(Clone, Debug)]
pub struct TunnelCodec {
    route: MirrorRoute,
    remote: SocketAddr,
}

impl TunnelCodec {
    /// Packets go to the endpoint at `remote` (a UDP address) through `route`.
    pub fn new(route: MirrorRoute, remote: SocketAddr) -> Self {
        TunnelCodec {
            route,
            remote: canonical(remote),
        }
    }

    /// The mirror's address.
    pub fn mirror(&self) -> SocketAddr {
        self.route.mirror()
    }

    /// Bytes added to each packet on the way out (to size the device MTU).
    pub fn overhead(&self) -> usize {
        self.route.overhead(self.remote)
    }

    /// Append the datagram carrying `packet` to the remote endpoint, for the mirror.
    pub fn outbound(&self, packet: &[u8], now_secs: u64, out: &mut Vec<u8>) {
        self.route.wrap_into(self.remote, packet, now_secs, out);
    }

    /// The IP packet inside a datagram received from `from`, if it came through the mirror
    /// from the remote endpoint and looks like an IP packet (version 4 or 6).
    pub fn inbound<'a>(&self, from: SocketAddr, datagram: &'a [u8]) -> Option<&'a [u8]> {
        let (sender, packet) = self.route.unwrap(from, datagram).ok()?;
        let version = packet.first()? >> 4;
        (sender == self.remote && packet.len() >= MIN_IP_PACKET && matches!(version, 4 | 6))
            .then_some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_netfn::encap::EncapRepr;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    fn ip_packet() -> Vec<u8> {
        let mut packet = vec![0u8; 40];
        packet[0] = 0x45;
        packet
    }

    #[test]
    fn packets_from_the_remote_endpoint_through_the_mirror_are_accepted() {
        let codec = TunnelCodec::new(
            MirrorRoute::new(addr("127.0.0.1:7000")),
            addr("127.0.0.1:7102"),
        );
        let mut out = Vec::new();
        codec.outbound(&ip_packet(), 0, &mut out);
        let (header, inner) = EncapRepr::parse(&out).expect("header");
        assert_eq!(header.peer, addr("127.0.0.1:7102"));
        assert_eq!(inner, ip_packet().as_slice());

        let delivery = EncapRepr::new(addr("127.0.0.1:7102")).encapsulate(&ip_packet());
        assert_eq!(
            codec.inbound(addr("127.0.0.1:7000"), &delivery),
            Some(ip_packet().as_slice())
        );
    }

    #[test]
    fn anything_else_is_not_written_to_the_device() {
        let codec = TunnelCodec::new(
            MirrorRoute::new(addr("127.0.0.1:7000")),
            addr("127.0.0.1:7102"),
        );
        let from_elsewhere = EncapRepr::new(addr("127.0.0.1:9999")).encapsulate(&ip_packet());
        assert_eq!(codec.inbound(addr("127.0.0.1:7000"), &from_elsewhere), None);
        let good = EncapRepr::new(addr("127.0.0.1:7102")).encapsulate(&ip_packet());
        assert_eq!(codec.inbound(addr("127.0.0.1:7001"), &good), None);
        let not_ip = EncapRepr::new(addr("127.0.0.1:7102")).encapsulate(&[0x15; 40]);
        assert_eq!(codec.inbound(addr("127.0.0.1:7000"), &not_ip), None);
        let runt = EncapRepr::new(addr("127.0.0.1:7102")).encapsulate(&[0x45; 8]);
        assert_eq!(codec.inbound(addr("127.0.0.1:7000"), &runt), None);
    }
}
