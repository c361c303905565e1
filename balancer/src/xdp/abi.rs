//! The XDP ABI on the Rust side: the constants and map layouts of `bpf/balancer_abi.h`, which
//! is where they are defined. [`DEFINES`] lists every `#define TRK_*` of the header with its
//! value here; the test `the_c_header_and_the_rust_abi_agree` reads the header and checks that
//! both lists are the same, and that the protocol constants equal the userspace datapath's
//! ([`crate::core::constants`], [`crate::core::DropReason::ALL`]). The encapsulation header's
//! constants are `trickles-xdp`'s (`xdp/bpf/encap_abi.h`, checked against `trickles-netfn`).

use std::net::{IpAddr, SocketAddr};

#[cfg(test)]
use crate::core::DropReason;

/// Backend slots per table generation.
pub const MAX_BACKENDS: u32 = 256;
/// Largest Maglev table the XDP datapath holds.
pub const MAX_TABLE_SIZE: u32 = 65_537;
/// Table generations (one serves while the other is written).
pub const GENERATIONS: u32 = 2;
/// Entries of `trk_vip_ports` (one per UDP port).
pub const VIP_PORTS: u32 = 65_536;
/// [`VipPort::families`]: an IPv4 VIP on this port.
pub const VIP_IPV4: u32 = 0x01;
/// [`VipPort::families`]: an IPv6 VIP on this port.
pub const VIP_IPV6: u32 = 0x02;
/// `sizeof(struct trk_vip_port)`.
pub const VIP_PORT_SIZE: u32 = 24;
/// `offsetof(struct trk_vip_port, v4)`.
pub const VIP_PORT_OFF_V4: u32 = 4;
/// `offsetof(struct trk_vip_port, v6)`.
pub const VIP_PORT_OFF_V6: u32 = 8;
/// Upstream relays per generation.
pub const MAX_UPSTREAMS: u32 = 16;
/// Where the connection id starts in a datagram.
pub const CONN_ID_OFFSET: u32 = 2;
/// Shortest client datagram forwarded.
pub const MIN_CLIENT_DATAGRAM: u32 = 10;
/// First multiplier of the key mixer.
pub const MIX_MUL_1: u64 = 0xBF58_476D_1CE4_E5B9;
/// Second multiplier of the key mixer.
pub const MIX_MUL_2: u64 = 0x94D0_49BB_1331_11EB;
pub use trickles_xdp::encap_abi::{ENCAP_MAX_LEN, FAMILY_IPV4, FAMILY_IPV6};
/// [`Config::flags`]: send everything to the gateway MAC (no FIB lookup).
pub const CONFIG_GATEWAY: u32 = 0x01;
/// [`Config::flags`]: the pool has a key: every VIP datagram goes up to the userspace datapath,
/// which writes and checks the hop tags (`docs/XDP.md`).
pub const CONFIG_POOL_KEY: u32 = 0x02;
/// [`Generation::flags`]: direct server return.
pub const GENERATION_DIRECT_RETURN: u32 = 0x01;
/// Counters per backend slot.
pub const COUNTERS_PER_BACKEND: u32 = 4;
/// Backend counter: datagrams to it.
pub const CTR_TO_BACKEND_PACKETS: u32 = 0;
/// Backend counter: their bytes.
pub const CTR_TO_BACKEND_BYTES: u32 = 1;
/// Backend counter: replies relayed from it.
pub const CTR_TO_CLIENT_PACKETS: u32 = 2;
/// Backend counter: their bytes.
pub const CTR_TO_CLIENT_BYTES: u32 = 3;
/// First drop counter.
pub const DROP_BASE: u32 = MAX_BACKENDS * COUNTERS_PER_BACKEND;
/// Drop: too short for a connection id.
pub const DROP_TOO_SHORT: u32 = 0;
/// Drop: no backend in the table.
pub const DROP_NO_BACKEND: u32 = 1;
/// Drop: encapsulated by a stranger.
pub const DROP_UNTRUSTED_ENCAP: u32 = 2;
/// Drop: a backend's header is malformed.
pub const DROP_MALFORMED_ENCAP: u32 = 3;
/// Drop: a backend sent a plain datagram.
pub const DROP_BACKEND_NOT_ENCAPSULATED: u32 = 4;
/// Drop: a backend's reply names a backend.
pub const DROP_LOOP: u32 = 5;
/// Drop: a reply names a VIA relay that is not an upstream.
pub const DROP_UNKNOWN_VIA: u32 = 9;
/// Drop counters (as many as [`crate::core::DropReason::ALL`]).
pub const DROP_REASONS: u32 = 13;
/// First pass counter.
pub const PASS_BASE: u32 = DROP_BASE + DROP_REASONS;
/// Passed up: unused since the program handles VIA (kept for the counters' layout).
pub const PASS_UPSTREAM: u32 = 0;
/// Passed up: a header longer than [`ENCAP_MAX_LEN`], not a multiple of 4, or with more than
/// 16 options.
pub const PASS_OPTIONS: u32 = 1;
/// Passed up: client and backend of different families.
pub const PASS_FAMILY: u32 = 2;
/// Passed up: no next hop.
pub const PASS_NO_ROUTE: u32 = 3;
/// Passed up: IP options, extension headers, fragments, odd lengths.
pub const PASS_HEADERS: u32 = 4;
/// Passed up: the pool has a key ([`CONFIG_POOL_KEY`]).
pub const PASS_POOL_KEY: u32 = 5;
/// Pass counters.
pub const PASS_REASONS: u32 = 6;
/// All counters.
pub const COUNTERS: u32 = PASS_BASE + PASS_REASONS;
/// `sizeof(struct trk_endpoint)`.
pub const ENDPOINT_SIZE: u32 = 20;
/// `offsetof(struct trk_endpoint, port)`.
pub const ENDPOINT_OFF_PORT: u32 = 2;
/// `offsetof(struct trk_endpoint, addr)`.
pub const ENDPOINT_OFF_ADDR: u32 = 4;
/// `sizeof(struct trk_generation)`.
pub const GENERATION_SIZE: u32 = 24;
/// `sizeof(struct trk_config)`.
pub const CONFIG_SIZE: u32 = 16;
/// `offsetof(struct trk_config, gateway_mac)`.
pub const CONFIG_OFF_GATEWAY_MAC: u32 = 8;

/// Labels of the pass counters (`reason` of `trickles_balancer_xdp_passed_total`), in index
/// order.
pub const PASS_NAMES: [&str; PASS_REASONS as usize] = [
    "upstream", "options", "family", "no_route", "headers", "pool_key",
];

/// Every `#define TRK_<name>` of the header, by name without the prefix, with its value.
pub const DEFINES: &[(&str, u64)] = &[
    ("MAX_BACKENDS", MAX_BACKENDS as u64),
    ("MAX_TABLE_SIZE", MAX_TABLE_SIZE as u64),
    ("GENERATIONS", GENERATIONS as u64),
    ("VIP_PORTS", VIP_PORTS as u64),
    ("VIP_IPV4", VIP_IPV4 as u64),
    ("VIP_IPV6", VIP_IPV6 as u64),
    ("VIP_PORT_SIZE", VIP_PORT_SIZE as u64),
    ("VIP_PORT_OFF_V4", VIP_PORT_OFF_V4 as u64),
    ("VIP_PORT_OFF_V6", VIP_PORT_OFF_V6 as u64),
    ("MAX_UPSTREAMS", MAX_UPSTREAMS as u64),
    ("CONN_ID_OFFSET", CONN_ID_OFFSET as u64),
    ("MIN_CLIENT_DATAGRAM", MIN_CLIENT_DATAGRAM as u64),
    ("MIX_MUL_1", MIX_MUL_1),
    ("MIX_MUL_2", MIX_MUL_2),
    ("CONFIG_GATEWAY", CONFIG_GATEWAY as u64),
    ("CONFIG_POOL_KEY", CONFIG_POOL_KEY as u64),
    ("GENERATION_DIRECT_RETURN", GENERATION_DIRECT_RETURN as u64),
    ("COUNTERS_PER_BACKEND", COUNTERS_PER_BACKEND as u64),
    ("CTR_TO_BACKEND_PACKETS", CTR_TO_BACKEND_PACKETS as u64),
    ("CTR_TO_BACKEND_BYTES", CTR_TO_BACKEND_BYTES as u64),
    ("CTR_TO_CLIENT_PACKETS", CTR_TO_CLIENT_PACKETS as u64),
    ("CTR_TO_CLIENT_BYTES", CTR_TO_CLIENT_BYTES as u64),
    ("DROP_BASE", DROP_BASE as u64),
    ("DROP_TOO_SHORT", DROP_TOO_SHORT as u64),
    ("DROP_NO_BACKEND", DROP_NO_BACKEND as u64),
    ("DROP_UNTRUSTED_ENCAP", DROP_UNTRUSTED_ENCAP as u64),
    ("DROP_MALFORMED_ENCAP", DROP_MALFORMED_ENCAP as u64),
    (
        "DROP_BACKEND_NOT_ENCAPSULATED",
        DROP_BACKEND_NOT_ENCAPSULATED as u64,
    ),
    ("DROP_LOOP", DROP_LOOP as u64),
    ("DROP_UNKNOWN_VIA", DROP_UNKNOWN_VIA as u64),
    ("DROP_REASONS", DROP_REASONS as u64),
    ("PASS_BASE", PASS_BASE as u64),
    ("PASS_UPSTREAM", PASS_UPSTREAM as u64),
    ("PASS_OPTIONS", PASS_OPTIONS as u64),
    ("PASS_FAMILY", PASS_FAMILY as u64),
    ("PASS_NO_ROUTE", PASS_NO_ROUTE as u64),
    ("PASS_HEADERS", PASS_HEADERS as u64),
    ("PASS_POOL_KEY", PASS_POOL_KEY as u64),
    ("PASS_REASONS", PASS_REASONS as u64),
    ("COUNTERS", COUNTERS as u64),
    ("ENDPOINT_SIZE", ENDPOINT_SIZE as u64),
    ("ENDPOINT_OFF_PORT", ENDPOINT_OFF_PORT as u64),
    ("ENDPOINT_OFF_ADDR", ENDPOINT_OFF_ADDR as u64),
    ("GENERATION_SIZE", GENERATION_SIZE as u64),
    ("CONFIG_SIZE", CONFIG_SIZE as u64),
    ("CONFIG_OFF_GATEWAY_MAC", CONFIG_OFF_GATEWAY_MAC as u64),
];

/// `struct trk_endpoint`: an address and port (a VIP, a backend, an upstream relay).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// [`FAMILY_IPV4`] or [`FAMILY_IPV6`]; 0 for an empty slot.
    pub family: u8,
    /// The table generation in the keys that have one, else 0.
    pub generation: u8,
    /// The port, in network byte order in memory.
    pub port: u16,
    /// IPv4 in the first 4 bytes (the rest zero), or IPv6.
    pub addr: [u8; 16],
}

impl Endpoint {
    /// The endpoint of `address` in `generation`.
    pub fn new(address: SocketAddr, generation: u8) -> Self {
        let mut addr = [0u8; 16];
        let family = match address.ip() {
            IpAddr::V4(ip) => {
                addr[..4].copy_from_slice(&ip.octets());
                FAMILY_IPV4
            }
            IpAddr::V6(ip) => {
                addr.copy_from_slice(&ip.octets());
                FAMILY_IPV6
            }
        };
        Endpoint {
            family,
            generation,
            port: u16::from_ne_bytes(address.port().to_be_bytes()),
            addr,
        }
    }
}

/// `struct trk_vip_port`: the VIPs listening on one port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VipPort {
    /// [`VIP_IPV4`] | [`VIP_IPV6`].
    pub families: u32,
    /// The IPv4 VIP.
    pub v4: [u8; 4],
    /// The IPv6 VIP.
    pub v6: [u8; 16],
}

/// `struct trk_generation`: one table generation's settings.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    /// Maglev slots; 0 when no backend is in the table.
    pub table_size: u32,
    /// [`GENERATION_DIRECT_RETURN`].
    pub flags: u32,
    /// The connection-id hash key ([`crate::core::ConnHashKey::words`]).
    pub hash_k0: u64,
    /// Its second word.
    pub hash_k1: u64,
}

/// `struct trk_config`: which generation serves, and how frames leave.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The generation in force (0 or 1).
    pub generation: u32,
    /// [`CONFIG_GATEWAY`].
    pub flags: u32,
    /// The next hop's MAC in gateway mode.
    pub gateway_mac: [u8; 6],
    /// Zero.
    pub pad: [u8; 2],
}

// SAFETY: plain `repr(C)` structs of integers and byte arrays, without padding (their sizes are
// checked against the C header's by the test below), valid for any bit pattern.
unsafe impl aya::Pod for Endpoint {}
// SAFETY: as above.
unsafe impl aya::Pod for Generation {}
// SAFETY: as above (4 + 4 + 16 bytes, no padding).
unsafe impl aya::Pod for VipPort {}
// SAFETY: as above.
unsafe impl aya::Pod for Config {}

/// The header, as compiled into the program.
pub const HEADER: &str = include_str!("../../bpf/balancer_abi.h");

pub use trickles_xdp::header::parse_defines;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::constants;
    use std::mem::{offset_of, size_of};

    #[test]
    fn the_c_header_and_the_rust_abi_agree() {
        let header = parse_defines(HEADER);
        let rust: Vec<(String, u64)> = DEFINES
            .iter()
            .map(|(name, value)| ((*name).to_owned(), *value))
            .collect();
        for (name, value) in &header {
            let ours = rust.iter().find(|(n, _)| n == name);
            assert_eq!(
                ours.map(|(_, v)| *v),
                Some(*value),
                "TRK_{name} is {value:#x} in the header"
            );
        }
        for (name, _) in &rust {
            assert!(
                header.iter().any(|(n, _)| n == name),
                "TRK_{name} is missing from the header"
            );
        }
    }

    #[test]
    fn the_layouts_are_the_ones_the_header_states() {
        assert_eq!(size_of::<Endpoint>() as u32, ENDPOINT_SIZE);
        assert_eq!(offset_of!(Endpoint, port) as u32, ENDPOINT_OFF_PORT);
        assert_eq!(offset_of!(Endpoint, addr) as u32, ENDPOINT_OFF_ADDR);
        assert_eq!(size_of::<Generation>() as u32, GENERATION_SIZE);
        assert_eq!(size_of::<VipPort>() as u32, VIP_PORT_SIZE);
        assert_eq!(offset_of!(VipPort, v4) as u32, VIP_PORT_OFF_V4);
        assert_eq!(offset_of!(VipPort, v6) as u32, VIP_PORT_OFF_V6);
        assert_eq!(size_of::<Config>() as u32, CONFIG_SIZE);
        assert_eq!(
            offset_of!(Config, gateway_mac) as u32,
            CONFIG_OFF_GATEWAY_MAC
        );
    }

    #[test]
    fn the_abi_speaks_the_userspace_datapaths_protocol() {
        assert_eq!(CONN_ID_OFFSET as usize, constants::CONN_ID_RANGE.start);
        assert_eq!(MIN_CLIENT_DATAGRAM as usize, constants::MIN_CLIENT_DATAGRAM);
        assert_eq!(MIX_MUL_1, constants::MIX_MUL_1);
        assert_eq!(MIX_MUL_2, constants::MIX_MUL_2);
        const { assert!(MAX_TABLE_SIZE <= constants::MAX_TABLE_SIZE) };
        assert_eq!(DROP_REASONS as usize, DropReason::ALL.len());
        let index = |r: DropReason| {
            DropReason::ALL
                .iter()
                .position(|x| *x == r)
                .map(|i| i as u32)
        };
        assert_eq!(index(DropReason::TooShort), Some(DROP_TOO_SHORT));
        assert_eq!(index(DropReason::NoBackend), Some(DROP_NO_BACKEND));
        assert_eq!(
            index(DropReason::UntrustedEncap),
            Some(DROP_UNTRUSTED_ENCAP)
        );
        assert_eq!(
            index(DropReason::MalformedEncap),
            Some(DROP_MALFORMED_ENCAP)
        );
        assert_eq!(
            index(DropReason::BackendNotEncapsulated),
            Some(DROP_BACKEND_NOT_ENCAPSULATED)
        );
        assert_eq!(index(DropReason::Loop), Some(DROP_LOOP));
        assert_eq!(index(DropReason::UnknownVia), Some(DROP_UNKNOWN_VIA));
    }

    #[test]
    fn an_endpoint_keeps_the_port_in_network_order() {
        let e = Endpoint::new("198.18.0.1:4433".parse().expect("addr"), 1);
        assert_eq!(e.port.to_ne_bytes(), 4433u16.to_be_bytes());
        assert_eq!(&e.addr[..4], &[198, 18, 0, 1]);
        assert_eq!(e.addr[4..], [0; 12]);
        assert_eq!((e.family, e.generation), (FAMILY_IPV4, 1));
    }
}
