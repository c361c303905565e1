//! The XDP fixture table, in the style of Katran's tester: Ethernet frames built with `pnet`
//! (IPv4 and IPv6: HELLOs, requests, relayed replies, replies through a VIA relay, packets for
//! an unknown VIP, truncated and malformed headers), and what the **userspace** datapath does
//! with each ([`userspace`]: the frame's addresses and UDP payload through
//! [`trickles_balancer::core::decide`]). The fixture tests and the `xdp` benchmark both use it.
//!
//! Addresses come from the benchmarking ranges (198.18.0.0/15, 2001:2::/48).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};
use pnet_packet::Packet;
use trickles_balancer::core::{
    decide, DropReason, ForwardingMode, ForwardingTable, Policy, Spray, TableBackend, Verdict,
};
use trickles_balancer::probe::probe_hello;
use trickles_netfn::encap::EncapRepr;

/// The MAC frames arrive at (the balancer's device).
pub const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The MAC frames arrive from.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// The gateway MAC the program sends to in gateway mode.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];

/// An address family of a fixture set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 client, VIP, backends, upstream.
    V4,
    /// IPv6 ones.
    V6,
}

/// The addresses of one family's scenario.
#[derive(Clone, Debug)]
pub struct Addresses {
    /// The VIP.
    pub vip: SocketAddr,
    /// A client.
    pub client: SocketAddr,
    /// A trusted upstream relay (a mirror).
    pub upstream: SocketAddr,
    /// The three backends.
    pub backends: [SocketAddr; 3],
}

fn sa(text: &str) -> SocketAddr {
    text.parse().expect("fixture address")
}

impl Family {
    /// The scenario's addresses.
    pub fn addresses(self) -> Addresses {
        match self {
            Family::V4 => Addresses {
                vip: sa("198.18.0.1:4433"),
                client: sa("198.18.1.10:40000"),
                upstream: sa("198.18.3.1:7000"),
                backends: [
                    sa("198.18.2.1:5001"),
                    sa("198.18.2.2:5001"),
                    sa("198.18.2.3:5002"),
                ],
            },
            Family::V6 => Addresses {
                vip: sa("[2001:2::1]:4433"),
                client: sa("[2001:2:1::10]:40000"),
                upstream: sa("[2001:2:3::1]:7000"),
                backends: [
                    sa("[2001:2:2::1]:5001"),
                    sa("[2001:2:2::2]:5001"),
                    sa("[2001:2:2::3]:5002"),
                ],
            },
        }
    }
}

/// The forwarding table of a family's scenario: three backends, `up` says which are up.
pub fn table(family: Family, mode: ForwardingMode, up: [bool; 3]) -> ForwardingTable {
    let a = family.addresses();
    let backends = (0..3)
        .map(|i| TableBackend {
            name: format!("r{i}"),
            address: a.backends[i],
            weight: 1,
            up: up[i],
            drained: false,
        })
        .collect();
    ForwardingTable::build(backends, Policy::Maglev, mode, 251)
        .expect("fixture table")
        .with_upstreams(vec![a.upstream])
}

/// Where the XDP program is expected to leave a frame to the userspace datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// The program decides (forwards or drops) as userspace does.
    Decides,
    /// The program passes it up, counted under this reason (`None`: not for a VIP, uncounted).
    PassesUp(Option<&'static str>),
}

/// One fixture.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// What it is.
    pub name: String,
    /// The frame.
    pub frame: Vec<u8>,
    /// Whether the program decides or hands it up.
    pub handling: Handling,
}

/// A Trickles REQUEST-shaped datagram (version 1, type 2, the connection id, a body).
pub fn request(conn_id: u64, len: usize) -> Vec<u8> {
    let mut d = vec![1u8, 2];
    d.extend_from_slice(&conn_id.to_be_bytes());
    d.extend((0..len.saturating_sub(10)).map(|i| (i * 7 + 3) as u8));
    d
}

/// A reply datagram of `len` bytes.
pub fn reply_body(len: usize) -> Vec<u8> {
    let mut d = vec![1u8, 3];
    d.extend((0..len.saturating_sub(2)).map(|i| (i * 13 + 1) as u8));
    d
}

/// The fixtures of `family`.
pub fn fixtures(family: Family) -> Vec<Fixture> {
    let a = family.addresses();
    let decides = |name: &str, frame: Vec<u8>| Fixture {
        name: format!("{family:?} {name}"),
        frame,
        handling: Handling::Decides,
    };
    let passes = |name: &str, frame: Vec<u8>, reason: Option<&'static str>| Fixture {
        name: format!("{family:?} {name}"),
        frame,
        handling: Handling::PassesUp(reason),
    };
    let to_vip = |payload: &[u8]| frame(a.client, a.vip, payload);
    let from_backend = |i: usize, payload: &[u8]| frame(a.backends[i], a.vip, payload);
    let mut list = vec![
        decides("hello", to_vip(&probe_hello(0x1234_5678_9abc_def0))),
        decides("request 1", to_vip(&request(1, 160))),
        decides("request 2", to_vip(&request(2, 600))),
        decides("request 99", to_vip(&request(99, 1200))),
        decides("request 10 bytes", to_vip(&request(7, 10))),
        decides("request 9 bytes (too short)", to_vip(&request(7, 10)[..9])),
        decides("empty datagram", to_vip(&[])),
        decides(
            "relayed reply",
            from_backend(1, &EncapRepr::new(a.client).encapsulate(&reply_body(900))),
        ),
        decides(
            "relayed reply, 2 bytes",
            from_backend(2, &EncapRepr::new(a.client).encapsulate(&reply_body(2))),
        ),
        decides(
            "backend sends a plain datagram",
            from_backend(0, &request(5, 40)),
        ),
        decides("backend sends one byte", from_backend(0, &[0xEC])),
        decides(
            "reply naming a backend (loop)",
            from_backend(0, &EncapRepr::new(a.backends[2]).encapsulate(b"x")),
        ),
        decides(
            "encapsulation from a stranger",
            to_vip(&EncapRepr::new(a.upstream).encapsulate(&request(3, 40))),
        ),
    ];
    let mut bad = EncapRepr::new(a.client).encapsulate(b"reply");
    bad[2] = 9;
    list.push(decides(
        "reply with header version 9",
        from_backend(1, &bad),
    ));
    let mut bad = EncapRepr::new(a.client).encapsulate(b"reply");
    bad[3] = 5;
    list.push(decides("reply with family 5", from_backend(1, &bad)));
    let mut bad = EncapRepr::new(a.client).encapsulate(b"reply");
    bad[5] = 8;
    list.push(decides("reply with header length 8", from_backend(1, &bad)));
    let good = EncapRepr::new(a.client).encapsulate(b"");
    list.push(decides(
        "reply with a truncated header",
        from_backend(1, &good[..good.len() - 3]),
    ));
    let other_family = match family {
        Family::V4 => sa("[2001:2:1::10]:40000"),
        Family::V6 => sa("198.18.1.10:40000"),
    };
    list.push(passes(
        "reply to a client of the other family",
        from_backend(0, &EncapRepr::new(other_family).encapsulate(b"y")),
        Some("family"),
    ));

    let mut via = vec![0u8; 128];
    let len = EncapRepr::new(a.client)
        .emit_via(Some(a.upstream), &mut via)
        .expect("fits");
    via.truncate(len);
    via.extend_from_slice(&reply_body(300));
    list.push(passes(
        "reply through the upstream (VIA)",
        from_backend(2, &via),
        Some("options"),
    ));
    list.push(passes(
        "request through the upstream relay",
        frame(
            a.upstream,
            a.vip,
            &EncapRepr::new(a.client).encapsulate(&request(11, 200)),
        ),
        Some("upstream"),
    ));
    let mut other_vip = a.vip;
    other_vip.set_port(4434);
    list.push(passes(
        "request to an unknown VIP",
        frame(a.client, other_vip, &request(1, 100)),
        None,
    ));
    let mut truncated = to_vip(&request(1, 100));
    truncated.truncate(truncated.len() - 20);
    list.push(passes("frame shorter than its UDP length", truncated, None));
    let mut short = to_vip(&request(1, 100));
    short.truncate(match family {
        Family::V4 => 14 + 10,
        Family::V6 => 14 + 30,
    });
    list.push(passes("truncated IP header", short, None));
    list
}

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

/// What a datapath does with a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sends `payload` from `from` to `to`; `backend` and `to_backend` say how it is counted,
    /// `counted_bytes` its bytes in the metrics.
    Send {
        /// Source address (the VIP).
        from: SocketAddr,
        /// Destination.
        to: SocketAddr,
        /// The UDP payload.
        payload: Vec<u8>,
        /// Backend index it is counted for.
        backend: u32,
        /// Client → backend (true) or a relayed reply.
        to_backend: bool,
        /// Bytes counted in `trickles_balancer_bytes_total`.
        counted_bytes: u64,
    },
    /// Dropped for this reason.
    Drop(DropReason),
    /// Never reaches the userspace datapath's socket (not UDP to the VIP, malformed).
    NotDelivered,
}

/// What the userspace datapath does with `frame` arriving at `vip` under `table`.
pub fn userspace(frame: &[u8], vip: SocketAddr, table: &ForwardingTable) -> Outcome {
    let Some(parsed) = parse(frame) else {
        return Outcome::NotDelivered;
    };
    if parsed.to != vip || !parsed.checksums_ok {
        return Outcome::NotDelivered;
    }
    let mut spray = Spray::new(table);
    match decide(&parsed.payload, parsed.from, table, &mut spray) {
        Verdict::Forward {
            backend,
            destination,
            header,
            via,
            inner,
        } => {
            let mut payload = vec![0u8; 64];
            let len = header.emit_via(via, &mut payload).expect("header fits");
            payload.truncate(len);
            payload.extend_from_slice(inner);
            Outcome::Send {
                from: vip,
                to: destination,
                payload,
                backend,
                to_backend: true,
                counted_bytes: inner.len() as u64,
            }
        }
        Verdict::Return {
            backend,
            client,
            via,
            inner,
        } => {
            let payload = match via {
                Some(_) => EncapRepr::new(client).encapsulate(inner),
                None => inner.to_vec(),
            };
            Outcome::Send {
                from: vip,
                to: via.unwrap_or(client),
                payload,
                backend,
                to_backend: false,
                counted_bytes: inner.len() as u64,
            }
        }
        Verdict::Drop(reason) => Outcome::Drop(reason),
    }
}
