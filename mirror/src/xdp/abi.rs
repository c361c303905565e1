//! The mirror's XDP ABI on the Rust side: the constants and layouts of `bpf/mirror_abi.h`, where
//! they are defined; the test `the_c_header_and_the_rust_abi_agree` reads the header and
//! compares every `#define` with [`DEFINES`], and the refusal indices with [`Reject::ALL`].

#[cfg(test)]
use crate::reject::Reject;

/// Address patterns of all peers together.
pub const MIRROR_MAX_PATTERNS: u32 = 64;
/// Peers.
pub const MIRROR_MAX_PEERS: u32 = 64;
/// Entries of `trk_mirror_locals` (one per port).
pub const MIRROR_LOCAL_PORTS: u32 = 65_536;
/// Longest datagram whose tag is verified in XDP.
pub const MIRROR_MAX_DATAGRAM: u32 = 1536;
/// Longest header (options included) read in XDP.
pub const MIRROR_MAX_HEADER: u32 = 64;
/// The auth option's type.
pub const OPTION_MIRROR_AUTH: u8 = 0x4D;
/// The auth option's value length.
pub const AUTH_VALUE_LEN: u32 = 13;
/// Slots of the source guard's table.
pub const MIRROR_GUARD_SLOTS: u32 = 16_384;
/// Config flag: gateway mode.
pub const MIRROR_GATEWAY: u32 = 0x01;
/// Config flag: datagrams toward servers are WAN-emulated.
pub const MIRROR_WAN_TO_SERVER: u32 = 0x02;
/// Config flag: datagrams toward clients are WAN-emulated.
pub const MIRROR_WAN_TO_CLIENT: u32 = 0x04;
/// Config flag: a per-source packet rate applies.
pub const MIRROR_PACKET_LIMIT: u32 = 0x08;
/// Config flag: a per-source byte rate applies.
pub const MIRROR_BYTE_LIMIT: u32 = 0x10;
/// Peer flag: it has keys (must tag).
pub const PEER_HAS_KEYS: u32 = 0x01;
/// Peer flag: it may reach any address.
pub const PEER_REACH_ANY: u32 = 0x02;
/// Peer flag: server side.
pub const PEER_SERVER: u32 = 0x04;
/// Counter: datagrams received.
pub const MCTR_RECEIVED_PACKETS: u32 = 0;
/// Counter: their bytes.
pub const MCTR_RECEIVED_BYTES: u32 = 1;
/// First refusal counter.
pub const MCTR_REJECT_BASE: u32 = 2;
/// Refusal: malformed header.
pub const REJECT_MALFORMED: u32 = 0;
/// Refusal: unknown source.
pub const REJECT_UNKNOWN_SOURCE: u32 = 3;
/// Refusal: a peer with keys sent no tag.
pub const REJECT_MISSING_TAG: u32 = 4;
/// Refusal: unknown key.
pub const REJECT_UNKNOWN_KEY: u32 = 5;
/// Refusal: the tag does not verify.
pub const REJECT_BAD_TAG: u32 = 6;
/// Refusal: the tag's timestamp is too far from the clock.
pub const REJECT_STALE_TAG: u32 = 7;
/// Refusal: destination not allowed.
pub const REJECT_DESTINATION_NOT_ALLOWED: u32 = 8;
/// Refusal: loop.
pub const REJECT_LOOP: u32 = 9;
/// Refusal: rate limited.
pub const REJECT_RATE_LIMITED: u32 = 10;
/// Refusal: would amplify.
pub const REJECT_AMPLIFICATION: u32 = 11;
/// Refusal counters (as many as [`crate::reject::Reject::ALL`]).
pub const REJECTS: u32 = 12;
/// First pass counter.
pub const MCTR_PASS_BASE: u32 = 14;
/// Passed up: a header longer than [`MIRROR_MAX_HEADER`], more than 16 options, or a tagged
/// datagram longer than [`MIRROR_MAX_DATAGRAM`].
pub const MPASS_OPTIONS: u32 = 0;
/// Passed up: WAN-emulated direction.
pub const MPASS_WAN: u32 = 1;
/// Passed up: another family or an IPv4-mapped address.
pub const MPASS_FAMILY: u32 = 2;
/// Passed up: no next hop.
pub const MPASS_NO_ROUTE: u32 = 3;
/// Pass reasons.
pub const MPASS_REASONS: u32 = 4;
/// First per-peer counter (packets, then bytes, per peer).
pub const MCTR_PEER_BASE: u32 = 18;
/// All counters.
pub const MCTR_COUNT: u32 = 146;
/// `sizeof(struct trk_pattern)`.
pub const PATTERN_SIZE: u32 = 24;
/// `trk_pattern.prefix_len` of an exact address and port.
pub const PATTERN_EXACT: u32 = 255;
/// `sizeof(struct trk_mirror_config)`.
pub const MIRROR_CONFIG_SIZE: u32 = 104;
/// [`MirrorKey::flags`]: the key's peer lists no addresses (its tag is accepted from anywhere).
pub const KEY_ANY_ADDRESS: u32 = 0x100;
/// `sizeof(struct trk_mirror_key)`.
pub const MIRROR_KEY_SIZE: u32 = 24;
/// `sizeof(struct trk_local_port)`.
pub const LOCAL_PORT_SIZE: u32 = 24;

/// Labels of the pass counters, in index order.
pub const PASS_NAMES: [&str; MPASS_REASONS as usize] = ["options", "wan", "family", "no_route"];

/// Every `#define TRK_*` of `mirror_abi.h` with its value here.
pub const DEFINES: &[(&str, u64)] = &[
    ("MIRROR_MAX_PATTERNS", MIRROR_MAX_PATTERNS as u64),
    ("MIRROR_MAX_PEERS", MIRROR_MAX_PEERS as u64),
    ("MIRROR_LOCAL_PORTS", MIRROR_LOCAL_PORTS as u64),
    ("MIRROR_GUARD_SLOTS", MIRROR_GUARD_SLOTS as u64),
    ("MIRROR_MAX_DATAGRAM", MIRROR_MAX_DATAGRAM as u64),
    ("MIRROR_MAX_HEADER", MIRROR_MAX_HEADER as u64),
    ("OPTION_MIRROR_AUTH", OPTION_MIRROR_AUTH as u64),
    ("AUTH_VALUE_LEN", AUTH_VALUE_LEN as u64),
    ("REJECT_UNKNOWN_KEY", REJECT_UNKNOWN_KEY as u64),
    ("REJECT_BAD_TAG", REJECT_BAD_TAG as u64),
    ("REJECT_STALE_TAG", REJECT_STALE_TAG as u64),
    ("KEY_ANY_ADDRESS", KEY_ANY_ADDRESS as u64),
    ("MIRROR_KEY_SIZE", MIRROR_KEY_SIZE as u64),
    ("MIRROR_GATEWAY", MIRROR_GATEWAY as u64),
    ("MIRROR_WAN_TO_SERVER", MIRROR_WAN_TO_SERVER as u64),
    ("MIRROR_WAN_TO_CLIENT", MIRROR_WAN_TO_CLIENT as u64),
    ("MIRROR_PACKET_LIMIT", MIRROR_PACKET_LIMIT as u64),
    ("MIRROR_BYTE_LIMIT", MIRROR_BYTE_LIMIT as u64),
    ("PEER_HAS_KEYS", PEER_HAS_KEYS as u64),
    ("PEER_REACH_ANY", PEER_REACH_ANY as u64),
    ("PEER_SERVER", PEER_SERVER as u64),
    ("MCTR_RECEIVED_PACKETS", MCTR_RECEIVED_PACKETS as u64),
    ("MCTR_RECEIVED_BYTES", MCTR_RECEIVED_BYTES as u64),
    ("MCTR_REJECT_BASE", MCTR_REJECT_BASE as u64),
    ("REJECT_MALFORMED", REJECT_MALFORMED as u64),
    ("REJECT_UNKNOWN_SOURCE", REJECT_UNKNOWN_SOURCE as u64),
    ("REJECT_MISSING_TAG", REJECT_MISSING_TAG as u64),
    (
        "REJECT_DESTINATION_NOT_ALLOWED",
        REJECT_DESTINATION_NOT_ALLOWED as u64,
    ),
    ("REJECT_LOOP", REJECT_LOOP as u64),
    ("REJECT_RATE_LIMITED", REJECT_RATE_LIMITED as u64),
    ("REJECT_AMPLIFICATION", REJECT_AMPLIFICATION as u64),
    ("REJECTS", REJECTS as u64),
    ("MCTR_PASS_BASE", MCTR_PASS_BASE as u64),
    ("MPASS_OPTIONS", MPASS_OPTIONS as u64),
    ("MPASS_WAN", MPASS_WAN as u64),
    ("MPASS_FAMILY", MPASS_FAMILY as u64),
    ("MPASS_NO_ROUTE", MPASS_NO_ROUTE as u64),
    ("MPASS_REASONS", MPASS_REASONS as u64),
    ("MCTR_PEER_BASE", MCTR_PEER_BASE as u64),
    ("MCTR_COUNT", MCTR_COUNT as u64),
    ("PATTERN_SIZE", PATTERN_SIZE as u64),
    ("PATTERN_EXACT", PATTERN_EXACT as u64),
    ("MIRROR_CONFIG_SIZE", MIRROR_CONFIG_SIZE as u64),
    ("LOCAL_PORT_SIZE", LOCAL_PORT_SIZE as u64),
];

/// `struct trk_pattern`: one address pattern of one peer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pattern {
    /// 4 or 6.
    pub family: u8,
    /// Prefix length, or [`PATTERN_EXACT`].
    pub prefix_len: u8,
    /// The port (exact patterns), network byte order in memory.
    pub port: u16,
    /// The peer's index.
    pub peer: u8,
    /// 1 when the peer is server-side.
    pub server: u8,
    /// `AddressPattern::specificity`.
    pub rank: u16,
    /// IPv4 in the first 4 bytes, or IPv6.
    pub addr: [u8; 16],
}

/// `struct patterns`: every pattern, one map value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Patterns {
    /// In configuration order (peers, then each peer's patterns).
    pub p: [Pattern; MIRROR_MAX_PATTERNS as usize],
}

/// `struct trk_mirror_peer`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// `PEER_*` flags.
    pub flags: u32,
}

/// `struct trk_mirror_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Patterns in use.
    pub patterns: u32,
    /// `MIRROR_*` flags.
    pub flags: u32,
    /// Gateway mode's next hop.
    pub gateway_mac: [u8; 6],
    /// Zero.
    pub pad: [u8; 2],
    /// Per-source packet rate.
    pub packets_per_second: u64,
    /// Its burst.
    pub packets_burst: u64,
    /// Per-source byte rate.
    pub bytes_per_second: u64,
    /// Its burst.
    pub bytes_burst: u64,
    /// Most unspent credit.
    pub credit_cap: u64,
    /// The slot hash's key.
    pub hash_key: [u64; 2],
    /// Slots in use − 1.
    pub slot_mask: u32,
    /// Zero.
    pub pad2: u32,
    /// The wall clock (UNIX seconds) at [`MirrorConfig::clock_ktime`].
    pub clock_secs: u64,
    /// `CLOCK_MONOTONIC` (what `bpf_ktime_get_ns` reads) then, in nanoseconds.
    pub clock_ktime: u64,
    /// Largest accepted difference between a tag's timestamp and the clock.
    pub max_skew_secs: u64,
}

/// `struct trk_mirror_key`: a key by its id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorKey {
    /// The peer's index + 1 (0: no such key).
    pub peer: u32,
    /// [`KEY_ANY_ADDRESS`].
    pub flags: u32,
    /// SipHash-2-4 key word 0.
    pub k0: u64,
    /// Key word 1.
    pub k1: u64,
}

/// `struct trk_local_port`: the listen addresses on one port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalPort {
    /// 1: IPv4 set, 2: IPv6 set.
    pub families: u32,
    /// The IPv4 address.
    pub v4: [u8; 4],
    /// The IPv6 address.
    pub v6: [u8; 16],
}

// SAFETY: `repr(C)` structs of integers and byte arrays without padding (sizes checked against
// the header by the tests below), valid for any bit pattern.
unsafe impl aya::Pod for Pattern {}
// SAFETY: as above.
unsafe impl aya::Pod for Patterns {}
// SAFETY: as above.
unsafe impl aya::Pod for PeerInfo {}
// SAFETY: as above.
unsafe impl aya::Pod for MirrorConfig {}
// SAFETY: as above.
unsafe impl aya::Pod for LocalPort {}
// SAFETY: as above.
unsafe impl aya::Pod for MirrorKey {}

/// The header, as compiled into the program.
pub const HEADER: &str = include_str!("../../bpf/mirror_abi.h");

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn the_c_header_and_the_rust_abi_agree() {
        let problems = trickles_xdp::header::disagreements(HEADER, DEFINES);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert_eq!(size_of::<Pattern>() as u32, PATTERN_SIZE);
        assert_eq!(size_of::<MirrorConfig>() as u32, MIRROR_CONFIG_SIZE);
        assert_eq!(size_of::<LocalPort>() as u32, LOCAL_PORT_SIZE);
        assert_eq!(size_of::<MirrorKey>() as u32, MIRROR_KEY_SIZE);
        assert_eq!(
            OPTION_MIRROR_AUTH,
            trickles_netfn::mirror_auth::option::OPTION_MIRROR_AUTH
        );
        assert_eq!(
            AUTH_VALUE_LEN as usize,
            trickles_netfn::mirror_auth::option::AUTH_VALUE_LEN
        );
        assert_eq!(REJECTS as usize, Reject::ALL.len());
        let index = |r: Reject| Reject::ALL.iter().position(|x| *x == r).map(|i| i as u32);
        assert_eq!(index(Reject::UnknownKey), Some(REJECT_UNKNOWN_KEY));
        assert_eq!(index(Reject::BadTag), Some(REJECT_BAD_TAG));
        assert_eq!(index(Reject::StaleTag), Some(REJECT_STALE_TAG));
        assert_eq!(index(Reject::Malformed), Some(REJECT_MALFORMED));
        assert_eq!(index(Reject::UnknownSource), Some(REJECT_UNKNOWN_SOURCE));
        assert_eq!(index(Reject::MissingTag), Some(REJECT_MISSING_TAG));
        assert_eq!(
            index(Reject::DestinationNotAllowed),
            Some(REJECT_DESTINATION_NOT_ALLOWED)
        );
        assert_eq!(index(Reject::Loop), Some(REJECT_LOOP));
        assert_eq!(index(Reject::RateLimited), Some(REJECT_RATE_LIMITED));
        assert_eq!(index(Reject::Amplification), Some(REJECT_AMPLIFICATION));
    }
}
