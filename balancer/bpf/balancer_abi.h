/* The balancer's XDP ABI: every constant and map layout shared by the XDP program
 * (balancer.c) and its Rust control plane (balancer/src/xdp/abi.rs). This file is the one
 * place they are written down; the Rust test `the_c_header_and_the_rust_abi_agree` reads the
 * #defines below and compares each with the Rust constant of the same name, and the
 * _Static_asserts pin the C layouts to the TRK_*_SIZE / TRK_*_OFF_* values it also checks.
 *
 * Change a value here, in abi.rs and (for the protocol constants) in
 * balancer/src/core/constants.rs or trickles-netfn's encap.rs, all at once. */
#ifndef TRICKLES_BALANCER_ABI_H
#define TRICKLES_BALANCER_ABI_H

#include "encap_abi.h" /* the encapsulation header's constants (trickles-xdp) */

/* Sizes of the maps. */
#define TRK_MAX_BACKENDS 256
#define TRK_MAX_TABLE_SIZE 65537
#define TRK_GENERATIONS 2
#define TRK_VIP_PORTS 65536 /* trk_vip_ports: one IPv4 and one IPv6 VIP per port */
#define TRK_MAX_UPSTREAMS 16

/* The Trickles datagram (docs/PROTOCOL.md §2) and the key mixer (core/constants.rs). */
#define TRK_CONN_ID_OFFSET 2
#define TRK_MIN_CLIENT_DATAGRAM 10
#define TRK_MIX_MUL_1 0xBF58476D1CE4E5B9ULL
#define TRK_MIX_MUL_2 0x94D049BB133111EBULL

/* trk_config.flags */
#define TRK_CONFIG_GATEWAY 0x01 /* send everything to gateway_mac by XDP_TX, no FIB lookup */
#define TRK_CONFIG_POOL_KEY 0x02 /* the pool has a key: every VIP datagram goes up (hop tags
                                    are written and checked in userspace) */

/* trk_generation.flags */
#define TRK_GENERATION_DIRECT_RETURN 0x01

/* The per-CPU counters: four per backend slot, then the drops (in the order of the
 * userspace DropReason::ALL), then the packets handed up to the userspace datapath. */
#define TRK_COUNTERS_PER_BACKEND 4
#define TRK_CTR_TO_BACKEND_PACKETS 0
#define TRK_CTR_TO_BACKEND_BYTES 1
#define TRK_CTR_TO_CLIENT_PACKETS 2
#define TRK_CTR_TO_CLIENT_BYTES 3
#define TRK_DROP_BASE 1024 /* TRK_MAX_BACKENDS * TRK_COUNTERS_PER_BACKEND */
#define TRK_DROP_TOO_SHORT 0
#define TRK_DROP_NO_BACKEND 1
#define TRK_DROP_UNTRUSTED_ENCAP 2
#define TRK_DROP_MALFORMED_ENCAP 3
#define TRK_DROP_BACKEND_NOT_ENCAPSULATED 4
#define TRK_DROP_LOOP 5
#define TRK_DROP_UNKNOWN_VIA 9
#define TRK_DROP_REASONS 13 /* 10..12: missing_tag, bad_tag, stale_tag (userspace only) */
#define TRK_PASS_BASE 1037 /* TRK_DROP_BASE + TRK_DROP_REASONS */
#define TRK_PASS_UPSTREAM 0 /* unused since VIA is handled; kept for the counters' layout */
#define TRK_PASS_OPTIONS 1  /* a header longer than TRK_ENCAP_MAX_LEN, not a multiple of 4,
                               or with more than 16 options */
#define TRK_PASS_FAMILY 2   /* client and backend of different address families */
#define TRK_PASS_NO_ROUTE 3 /* the FIB lookup did not give a next hop */
#define TRK_PASS_HEADERS 4  /* IP options, extension headers, fragments, odd lengths */
#define TRK_PASS_POOL_KEY 5 /* TRK_CONFIG_POOL_KEY is set */
#define TRK_PASS_REASONS 6
#define TRK_COUNTERS 1043 /* TRK_PASS_BASE + TRK_PASS_REASONS */

/* An address and port: a VIP, a backend, an upstream relay. IPv4 uses addr[0..4], the rest
 * zero; the port is in network byte order. `generation` is 0 in trk_backends,
 * and the table generation in the keys of trk_backend_index and trk_upstreams. */
struct trk_endpoint {
    __u8 family;
    __u8 generation;
    __u16 port;
    __u8 addr[16];
};
#define TRK_ENDPOINT_SIZE 20
#define TRK_ENDPOINT_OFF_PORT 2
#define TRK_ENDPOINT_OFF_ADDR 4

/* The VIPs on one port (trk_vip_ports, indexed by the port in host order). */
struct trk_vip_port {
    __u32 families; /* TRK_VIP_IPV4 | TRK_VIP_IPV6 */
    __u8 v4[4];
    __u8 v6[16] __attribute__((aligned(8)));
};
#define TRK_VIP_IPV4 0x01
#define TRK_VIP_IPV6 0x02
#define TRK_VIP_PORT_SIZE 24
#define TRK_VIP_PORT_OFF_V4 4
#define TRK_VIP_PORT_OFF_V6 8

/* One table generation (two exist; trk_config.generation says which one is in force). */
struct trk_generation {
    __u32 table_size; /* Maglev slots; 0: no backend in the table */
    __u32 flags;      /* TRK_GENERATION_* */
    __u64 hash_k0;    /* SipHash-1-3 key of the connection-id hash (conn_hash.rs) */
    __u64 hash_k1;
};
#define TRK_GENERATION_SIZE 24

/* The single entry of trk_config. */
struct trk_config {
    __u32 generation;
    __u32 flags; /* TRK_CONFIG_* */
    __u8 gateway_mac[6];
    __u8 pad[2];
};
#define TRK_CONFIG_SIZE 16
#define TRK_CONFIG_OFF_GATEWAY_MAC 8

#ifndef TRK_ABI_NO_ASSERTS
_Static_assert(sizeof(struct trk_endpoint) == TRK_ENDPOINT_SIZE, "trk_endpoint size");
_Static_assert(__builtin_offsetof(struct trk_endpoint, port) == TRK_ENDPOINT_OFF_PORT, "port");
_Static_assert(__builtin_offsetof(struct trk_endpoint, addr) == TRK_ENDPOINT_OFF_ADDR, "addr");
_Static_assert(sizeof(struct trk_generation) == TRK_GENERATION_SIZE, "trk_generation size");
_Static_assert(sizeof(struct trk_vip_port) == TRK_VIP_PORT_SIZE, "trk_vip_port size");
_Static_assert(__builtin_offsetof(struct trk_vip_port, v4) == TRK_VIP_PORT_OFF_V4, "v4");
_Static_assert(__builtin_offsetof(struct trk_vip_port, v6) == TRK_VIP_PORT_OFF_V6, "v6");
_Static_assert(sizeof(struct trk_config) == TRK_CONFIG_SIZE, "trk_config size");
_Static_assert(__builtin_offsetof(struct trk_config, gateway_mac) == TRK_CONFIG_OFF_GATEWAY_MAC,
               "gateway_mac");
_Static_assert(TRK_DROP_BASE == TRK_MAX_BACKENDS * TRK_COUNTERS_PER_BACKEND, "drop base");
_Static_assert(TRK_PASS_BASE == TRK_DROP_BASE + TRK_DROP_REASONS, "pass base");
_Static_assert(TRK_COUNTERS == TRK_PASS_BASE + TRK_PASS_REASONS, "counters");
#endif

#endif
