/* The mirror's XDP ABI: every constant and map layout shared by the XDP program (mirror.c) and
 * its Rust control plane (mirror/src/xdp/abi.rs). The test `the_c_header_and_the_rust_abi_agree`
 * reads the #defines below and compares each with the Rust constant of the same name; the
 * _Static_asserts pin the layouts. The encapsulation header's constants are trickles-xdp's. */
#ifndef TRICKLES_MIRROR_ABI_H
#define TRICKLES_MIRROR_ABI_H

#include "encap_abi.h"

#define TRK_MIRROR_MAX_PATTERNS 64 /* address patterns of all peers, in configuration order */
#define TRK_MIRROR_MAX_PEERS 64
#define TRK_MIRROR_LOCAL_PORTS 65536
#define TRK_MIRROR_MAX_DATAGRAM 1536 /* longest datagram whose tag is verified in XDP */
#define TRK_MIRROR_MAX_HEADER 64      /* longest header (options included) read in XDP */
#define TRK_OPTION_MIRROR_AUTH 0x4D
#define TRK_AUTH_VALUE_LEN 13
#define TRK_MIRROR_GUARD_SLOTS 16384 /* the source guard's table; trk_mirror_config.slot_mask */

/* trk_mirror_config.flags */
#define TRK_MIRROR_GATEWAY 0x01        /* every frame to gateway_mac by XDP_TX, no FIB lookup */
#define TRK_MIRROR_WAN_TO_SERVER 0x02  /* client-side peers' datagrams are WAN-emulated */
#define TRK_MIRROR_WAN_TO_CLIENT 0x04  /* server-side peers' datagrams are WAN-emulated */
#define TRK_MIRROR_PACKET_LIMIT 0x08   /* a per-source packet rate applies */
#define TRK_MIRROR_BYTE_LIMIT 0x10     /* a per-source byte rate applies */

/* trk_mirror_peer.flags */
#define TRK_PEER_HAS_KEYS 0x01  /* must tag its datagrams */
#define TRK_PEER_REACH_ANY 0x02 /* may reach any address */
#define TRK_PEER_SERVER 0x04    /* server side: its datagrams go toward clients */

/* Counters: received, the refusals (in the order of Reject::ALL), the frames handed up to the
 * userspace datapath, then per peer the datagrams and bytes forwarded. */
#define TRK_MCTR_RECEIVED_PACKETS 0
#define TRK_MCTR_RECEIVED_BYTES 1
#define TRK_MCTR_REJECT_BASE 2
#define TRK_REJECT_MALFORMED 0
#define TRK_REJECT_UNKNOWN_SOURCE 3
#define TRK_REJECT_MISSING_TAG 4
#define TRK_REJECT_UNKNOWN_KEY 5
#define TRK_REJECT_BAD_TAG 6
#define TRK_REJECT_STALE_TAG 7
#define TRK_REJECT_DESTINATION_NOT_ALLOWED 8
#define TRK_REJECT_LOOP 9
#define TRK_REJECT_RATE_LIMITED 10
#define TRK_REJECT_AMPLIFICATION 11
#define TRK_REJECTS 12
#define TRK_MCTR_PASS_BASE 14
#define TRK_MPASS_OPTIONS 0 /* a header longer than TRK_MIRROR_MAX_HEADER, or too many options */
#define TRK_MPASS_WAN 1     /* the sender's direction is WAN-emulated */
#define TRK_MPASS_FAMILY 2  /* the other family, or an IPv4-mapped address */
#define TRK_MPASS_NO_ROUTE 3
#define TRK_MPASS_REASONS 4
#define TRK_MCTR_PEER_BASE 18
#define TRK_MCTR_COUNT 146 /* TRK_MCTR_PEER_BASE + 2 * TRK_MIRROR_MAX_PEERS */

/* One address pattern: an exact address and port (prefix_len 255) or a prefix (port 0).
 * IPv4 in addr[0..4], the rest zero; the port in network byte order. */
struct trk_pattern {
    __u8 family;
    __u8 prefix_len;
    __u16 port;
    __u8 peer;   /* index of trk_mirror_peer */
    __u8 server; /* 1 when the peer is server-side */
    __u16 rank;  /* AddressPattern::specificity */
    __u8 addr[16];
};
#define TRK_PATTERN_SIZE 24
#define TRK_PATTERN_EXACT 255

struct trk_mirror_peer {
    __u32 flags; /* TRK_PEER_* */
};

/* A key by its id (trk_mirror_keys): the peer it belongs to and its SipHash-2-4 key words. */
struct trk_mirror_key {
    __u32 peer;  /* index + 1; 0: no such key */
    __u32 flags; /* TRK_PEER_* of the peer (TRK_KEY_ANY_ADDRESS: it lists no addresses) */
    __u64 k0;
    __u64 k1;
};
#define TRK_KEY_ANY_ADDRESS 0x100
#define TRK_MIRROR_KEY_SIZE 24

/* The single entry of trk_mirror_config. */
struct trk_mirror_config {
    __u32 patterns;      /* patterns in use */
    __u32 flags;         /* TRK_MIRROR_* */
    __u8 gateway_mac[6];
    __u8 pad[2];
    __u64 packets_per_second;
    __u64 packets_burst;
    __u64 bytes_per_second;
    __u64 bytes_burst;
    __u64 credit_cap;
    __u64 hash_key[2]; /* keys the source guard's slot hash (SipHash-1-3) */
    __u32 slot_mask;   /* slots in use - 1 (a power of two, at most TRK_MIRROR_GUARD_SLOTS) */
    __u32 pad2;
    __u64 clock_secs;  /* the wall clock (UNIX seconds) at clock_ktime, written every tick */
    __u64 clock_ktime; /* bpf_ktime_get_ns() then */
    __u64 max_skew_secs;
};
#define TRK_MIRROR_CONFIG_SIZE 104

/* The listen addresses on one port (trk_mirror_locals, indexed by the port in host order). */
struct trk_local_port {
    __u32 families; /* 1: v4 set, 2: v6 set */
    __u8 v4[4];
    __u8 v6[16] __attribute__((aligned(8)));
};
#define TRK_LOCAL_PORT_SIZE 24

#ifndef TRK_ABI_NO_ASSERTS
_Static_assert(sizeof(struct trk_pattern) == TRK_PATTERN_SIZE, "trk_pattern size");
_Static_assert(sizeof(struct trk_mirror_config) == TRK_MIRROR_CONFIG_SIZE, "config size");
_Static_assert(sizeof(struct trk_local_port) == TRK_LOCAL_PORT_SIZE, "local port size");
_Static_assert(sizeof(struct trk_mirror_key) == TRK_MIRROR_KEY_SIZE, "key size");
_Static_assert(TRK_MCTR_PASS_BASE == TRK_MCTR_REJECT_BASE + TRK_REJECTS, "pass base");
_Static_assert(TRK_MCTR_PEER_BASE == TRK_MCTR_PASS_BASE + TRK_MPASS_REASONS, "peer base");
_Static_assert(TRK_MCTR_COUNT == TRK_MCTR_PEER_BASE + 2 * TRK_MIRROR_MAX_PEERS, "count");
#endif

#endif
