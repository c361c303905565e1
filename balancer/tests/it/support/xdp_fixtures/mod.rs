//! The XDP fixture table, in the style of Katran's tester: Ethernet frames built with `pnet`
//! (IPv4 and IPv6: HELLOs, requests, relayed replies, replies through a VIA relay, packets for
//! an unknown VIP, truncated and malformed headers), and what the **userspace** datapath does
//! with each ([`userspace`]: the frame's addresses and UDP payload through
//! [`trickles_balancer::core::decide`]). The fixture tests and the `xdp` benchmark both use it.
//!
//! Addresses come from the benchmarking ranges (198.18.0.0/15, 2001:2::/48). The frames are
//! built and read back by `trickles_testkit::frames`.

use std::net::SocketAddr;

use trickles_balancer::core::{
    decide, DropReason, ForwardingMode, ForwardingTable, Policy, Spray, TableBackend, Verdict,
};
use trickles_balancer::probe::probe_hello;
use trickles_netfn::encap::EncapRepr;

pub use trickles_testkit::frames::{frame, parse, GATEWAY_MAC, OUR_MAC};

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

    let with_via = |peer: SocketAddr, via: SocketAddr, inner: &[u8]| {
        let mut bytes = vec![0u8; 64];
        let len = EncapRepr::new(peer)
            .emit_via(Some(via), &mut bytes)
            .expect("fits");
        bytes.truncate(len);
        bytes.extend_from_slice(inner);
        bytes
    };
    list.push(decides(
        "reply through the upstream (VIA)",
        from_backend(2, &with_via(a.client, a.upstream, &reply_body(300))),
    ));
    list.push(decides(
        "reply through the upstream for a client of the other family",
        from_backend(2, &with_via(other_family, a.upstream, &reply_body(40))),
    ));
    list.push(decides(
        "reply through a relay that is not an upstream",
        from_backend(1, &with_via(a.client, a.client, b"z")),
    ));
    list.push(decides(
        "reply whose VIA is a backend (loop)",
        from_backend(1, &with_via(a.client, a.backends[0], b"z")),
    ));
    let mut unknown_option = EncapRepr::new(a.client).encapsulate(&reply_body(64));
    let base = unknown_option[5] as usize;
    unknown_option.splice(base..base, [0x77, 2, 0xAA, 0xBB]);
    unknown_option[5] += 4;
    list.push(decides(
        "reply with an unknown option (skipped)",
        from_backend(0, &unknown_option),
    ));
    let mut broken_option = unknown_option.clone();
    broken_option[base + 1] = 9;
    list.push(decides(
        "reply with an option longer than its header",
        from_backend(0, &broken_option),
    ));
    let mut bad_via = with_via(a.client, a.upstream, b"q");
    bad_via[base + 1] = 5;
    list.push(decides(
        "reply with a VIA of length 5",
        from_backend(0, &bad_via),
    ));
    list.push(decides(
        "request through the upstream relay",
        frame(
            a.upstream,
            a.vip,
            &EncapRepr::new(a.client).encapsulate(&request(11, 200)),
        ),
    ));
    list.push(decides(
        "request through the upstream from a client of the other family",
        frame(
            a.upstream,
            a.vip,
            &EncapRepr::new(other_family).encapsulate(&request(12, 90)),
        ),
    ));
    list.push(decides(
        "request through the upstream, 9 bytes (too short)",
        frame(
            a.upstream,
            a.vip,
            &EncapRepr::new(a.client).encapsulate(&request(13, 10)[..9]),
        ),
    ));
    list.push(decides(
        "request through the upstream naming a backend (loop)",
        frame(
            a.upstream,
            a.vip,
            &EncapRepr::new(a.backends[1]).encapsulate(&request(14, 40)),
        ),
    ));
    let mut bad = EncapRepr::new(a.client).encapsulate(&request(15, 40));
    bad[2] = 3;
    list.push(decides(
        "request through the upstream with header version 3",
        frame(a.upstream, a.vip, &bad),
    ));
    let mut odd = EncapRepr::new(a.client).encapsulate(&request(16, 40));
    odd.insert(base, 0);
    odd[5] += 1;
    list.push(passes(
        "request through the upstream, header of 13 bytes (padding)",
        frame(a.upstream, a.vip, &odd),
        Some("options"),
    ));
    let mut other_vip = a.vip;
    other_vip.set_port(4434);
    list.push(passes(
        "request to an unknown VIP",
        frame(a.client, other_vip, &request(1, 100)),
        None,
    ));
    let other_address = match family {
        Family::V4 => sa("198.18.0.9:4433"),
        Family::V6 => sa("[2001:2::9]:4433"),
    };
    list.push(passes(
        "request to the VIP's port on another address",
        frame(a.client, other_address, &request(1, 100)),
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
