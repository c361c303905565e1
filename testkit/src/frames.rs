//! Ethernet / IP / UDP frames for the XDP fixture tests of the network functions, built and
//! read back with `pnet`: correct lengths and checksums on the way in, every checksum verified
//! on the way out.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};
use pnet_packet::Packet;

/// The MAC frames arrive at (the balancer's device).
pub const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The MAC frames arrive from.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// The gateway MAC the program sends to in gateway mode.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];

/// An Ethernet frame (`PEER_MAC` → `OUR_MAC`) carrying `payload` from `src` to `dst` over UDP,
/// with correct checksums.
pub fn frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let (ip_len, ethertype) = match src.ip() {
        IpAddr::V4(_) => (20, EtherTypes::Ipv4),
        IpAddr::V6(_) => (40, EtherTypes::Ipv6),
    };
    let mut buffer = vec![0u8; 14 + ip_len + udp_len];
    {
        let mut eth = MutableEthernetPacket::new(&mut buffer).expect("eth");
        eth.set_destination(OUR_MAC.into());
        eth.set_source(PEER_MAC.into());
        eth.set_ethertype(ethertype);
    }
    let mut udp_bytes = vec![0u8; udp_len];
    {
        let mut u = MutableUdpPacket::new(&mut udp_bytes).expect("udp");
        u.set_source(src.port());
        u.set_destination(dst.port());
        u.set_length(udp_len as u16);
        u.set_payload(payload);
        let checksum = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => udp::ipv4_checksum(&u.to_immutable(), &s, &d),
            (IpAddr::V6(s), IpAddr::V6(d)) => udp::ipv6_checksum(&u.to_immutable(), &s, &d),
            _ => panic!("mixed families"),
        };
        u.set_checksum(checksum);
    }
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = MutableIpv4Packet::new(&mut buffer[14..]).expect("ipv4");
            ip.set_version(4);
            ip.set_header_length(5);
            ip.set_total_length((20 + udp_len) as u16);
            ip.set_identification(0x1234);
            ip.set_flags(ipv4::Ipv4Flags::DontFragment);
            ip.set_ttl(61);
            ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
            ip.set_source(s);
            ip.set_destination(d);
            ip.set_payload(&udp_bytes);
            let checksum = ipv4::checksum(&ip.to_immutable());
            ip.set_checksum(checksum);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = MutableIpv6Packet::new(&mut buffer[14..]).expect("ipv6");
            ip.set_version(6);
            ip.set_payload_length(udp_len as u16);
            ip.set_next_header(IpNextHeaderProtocols::Udp);
            ip.set_hop_limit(61);
            ip.set_source(s);
            ip.set_destination(d);
            ip.set_payload(&udp_bytes);
        }
        _ => panic!("mixed families"),
    }
    buffer
}

/// A frame read back: MACs, addresses, UDP payload, and whether every checksum holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IP source and UDP source port.
    pub from: SocketAddr,
    /// IP destination and UDP destination port.
    pub to: SocketAddr,
    /// The UDP payload (as long as the UDP length says).
    pub payload: Vec<u8>,
    /// IP and UDP checksums and lengths are right.
    pub checksums_ok: bool,
}

fn octets<M: Into<[u8; 6]>>(mac: M) -> [u8; 6] {
    mac.into()
}

/// Parse an Ethernet / IP / UDP frame; `None` when it is not one (or is truncated).
pub fn parse(frame: &[u8]) -> Option<ParsedFrame> {
    let eth = pnet_packet::ethernet::EthernetPacket::new(frame)?;
    let (dst_mac, src_mac) = (octets(eth.get_destination()), octets(eth.get_source()));
    match eth.get_ethertype() {
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(&frame[14..])?;
            if ip.get_header_length() != 5
                || ip.get_next_level_protocol() != IpNextHeaderProtocols::Udp
                || usize::from(ip.get_total_length()) > frame.len() - 14
            {
                return None;
            }
            let ip_ok = ipv4::checksum(&ip) == ip.get_checksum();
            let body = &frame[14 + 20..14 + usize::from(ip.get_total_length())];
            let u = UdpPacket::new(body)?;
            let ulen = usize::from(u.get_length());
            if ulen < 8 || ulen > body.len() {
                return None;
            }
            let u = UdpPacket::new(&body[..ulen])?;
            let (s, d) = (ip.get_source(), ip.get_destination());
            let udp_ok =
                u.get_checksum() == 0 || udp::ipv4_checksum(&u, &s, &d) == u.get_checksum();
            Some(
                ParsedFrame {
                    dst_mac,
                    src_mac,
                    from: SocketAddr::new(IpAddr::V4(s), u.get_source()),
                    to: SocketAddr::new(IpAddr::V4(d), u.get_destination()),
                    payload: u.payload().to_vec(),
                    checksums_ok: ip_ok && ulen == body.len(),
                }
                .with_udp(udp_ok),
            )
        }
        EtherTypes::Ipv6 => {
            let ip = Ipv6Packet::new(&frame[14..])?;
            if ip.get_next_header() != IpNextHeaderProtocols::Udp {
                return None;
            }
            let plen = usize::from(ip.get_payload_length());
            let body = frame.get(14 + 40..14 + 40 + plen)?;
            let u = UdpPacket::new(body)?;
            let ulen = usize::from(u.get_length());
            if ulen < 8 || ulen > body.len() {
                return None;
            }
            let u = UdpPacket::new(&body[..ulen])?;
            let (s, d): (Ipv6Addr, Ipv6Addr) = (ip.get_source(), ip.get_destination());
            let udp_ok = udp::ipv6_checksum(&u, &s, &d) == u.get_checksum();
            Some(
                ParsedFrame {
                    dst_mac,
                    src_mac,
                    from: SocketAddr::new(IpAddr::V6(s), u.get_source()),
                    to: SocketAddr::new(IpAddr::V6(d), u.get_destination()),
                    payload: u.payload().to_vec(),
                    checksums_ok: ulen == body.len(),
                }
                .with_udp(udp_ok),
            )
        }
        _ => None,
    }
}

impl ParsedFrame {
    fn with_udp(mut self, udp_ok: bool) -> Self {
        self.checksums_ok &= udp_ok;
        self
    }
}
