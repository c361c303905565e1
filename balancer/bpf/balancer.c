// SPDX-License-Identifier: MIT OR Apache-2.0
/* The balancer's XDP datapath: the decision of balancer/src/core/decision.rs, made on the
 * frame before the kernel allocates anything for it.
 *
 *   Ethernet ─ IPv4 (no options, not a fragment) | IPv6 (no extension header) ─ UDP to a VIP
 *     from a backend (trk_backend_index):  check the encapsulation header, strip it, send the
 *                                         inner datagram to the client it names (Return)
 *     from anyone else:                    Maglev slot of the connection id → backend; prepend
 *                                         the header naming the client (Forward)
 *
 * Checksums are updated incrementally (RFC 1624), the next hop comes from bpf_fib_lookup
 * (XDP_TX on the same device, XDP_REDIRECT to another) or, in gateway mode, from the
 * configured MAC. Whatever the program does not handle goes up unchanged (XDP_PASS) to the
 * userspace datapath, which listens on the same VIP: frames not for a VIP, VIA relays, headers
 * with options, mixed families, no route. Every decision is counted in trk_counters, which the
 * control plane turns into the userspace datapath's Prometheus metrics.
 *
 * The control plane writes a whole table generation (Maglev slots, backends, their index,
 * upstreams) while the other one serves, then flips trk_config.generation: a reload never
 * detaches the program and no frame sees half a table. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "balancer_abi.h"

#define AF_INET 2
#define AF_INET6 10
#define HOP_LIMIT 64

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trk_config);
} trk_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRK_GENERATIONS);
    __type(key, __u32);
    __type(value, struct trk_generation);
} trk_generations SEC(".maps");

/* Slot s of generation g at g * TRK_MAX_TABLE_SIZE + s: the backend index. Memory-mapped by
 * the control plane, which writes a whole generation with one copy instead of a system call
 * per slot. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, TRK_GENERATIONS * TRK_MAX_TABLE_SIZE);
    __type(key, __u32);
    __type(value, __u32);
} trk_maglev SEC(".maps");

/* Backend i of generation g at g * TRK_MAX_BACKENDS + i. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRK_GENERATIONS * TRK_MAX_BACKENDS);
    __type(key, __u32);
    __type(value, struct trk_endpoint);
} trk_backends SEC(".maps");

/* A backend's address (with the generation) → its index. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRK_GENERATIONS * TRK_MAX_BACKENDS);
    __type(key, struct trk_endpoint);
    __type(value, __u32);
} trk_backend_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRK_GENERATIONS * TRK_MAX_UPSTREAMS);
    __type(key, struct trk_endpoint);
    __type(value, __u32);
} trk_upstreams SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRK_MAX_VIPS);
    __type(key, struct trk_endpoint);
    __type(value, __u32);
} trk_vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRK_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} trk_counters SEC(".maps");

/* What the parser learnt about a frame; addresses and ports as on the wire. */
struct flow {
    __u8 family;
    __u8 src[16];
    __u8 dst[16];
    __u16 sport;
    __u16 dport;
    __u16 udp_check;
    __u32 datagram_len; /* UDP payload */
};

static __always_inline void count(__u32 index, __u64 n)
{
    __u64 *counter = bpf_map_lookup_elem(&trk_counters, &index);
    if (counter)
        *counter += n;
}

static __always_inline int drop(__u32 reason)
{
    count(TRK_DROP_BASE + reason, 1);
    return XDP_DROP;
}

static __always_inline int pass(__u32 reason)
{
    count(TRK_PASS_BASE + reason, 1);
    return XDP_PASS;
}

static __always_inline __u64 rotl(__u64 x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                                  \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                                  \
    } while (0)

/* SipHash-1-3 of the connection id as eight little-endian bytes, keyed by the generation: what
 * the userspace datapath computes (balancer/src/core/conn_hash.rs), so both pick one backend. */
static __always_inline __u64 conn_hash(__u64 conn_id, const struct trk_generation *gen)
{
    __u64 v0 = gen->hash_k0 ^ 0x736f6d6570736575ULL;
    __u64 v1 = gen->hash_k1 ^ 0x646f72616e646f6dULL;
    __u64 v2 = gen->hash_k0 ^ 0x6c7967656e657261ULL;
    __u64 v3 = gen->hash_k1 ^ 0x7465646279746573ULL;
    v3 ^= conn_id;
    SIPROUND;
    v0 ^= conn_id;
    __u64 b = 8ULL << 56;
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* floor(key * size / 2^64) for size < 2^32, without 128-bit arithmetic. */
static __always_inline __u64 reduce(__u64 key, __u64 size)
{
    __u64 high = (key >> 32) * size;
    __u64 low = ((key & 0xffffffffULL) * size) >> 32;
    return (high + low) >> 32;
}

static __always_inline __u32 fold(__u32 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static __always_inline void endpoint(struct trk_endpoint *e, __u8 family, const __u8 *addr,
                                     __u16 port, __u8 generation)
{
    __builtin_memset(e, 0, sizeof(*e));
    e->family = family;
    e->generation = generation;
    e->port = port;
    if (family == TRK_FAMILY_IPV4)
        __builtin_memcpy(e->addr, addr, 4);
    else
        __builtin_memcpy(e->addr, addr, 16);
}

/* The words of the UDP checksum that change: pseudo-header addresses, ports, and the UDP
 * length (counted twice: pseudo-header and UDP header). */
struct csum_words_v4 {
    __u8 src[4];
    __u8 dst[4];
    __u16 sport;
    __u16 dport;
    __u16 len1;
    __u16 len2;
};

struct csum_words_v6 {
    __u8 src[16];
    __u8 dst[16];
    __u16 sport;
    __u16 dport;
    __u16 len1;
    __u16 len2;
};

/* The new UDP checksum after the addresses, ports and length change from `old` to `new` and
 * `added` (even length, a multiple of 4) is prepended to the payload or `removed` stripped. */
static __always_inline __u16 udp_checksum_v4(__u16 check, struct csum_words_v4 *old,
                                             struct csum_words_v4 *new, void *block,
                                             __u32 block_len, int added)
{
    if (check == 0)
        return 0; /* IPv4 without a checksum stays without one */
    __u32 sum = (~check) & 0xffff;
    sum = bpf_csum_diff((__be32 *)old, sizeof(*old), (__be32 *)new, sizeof(*new), sum);
    if (added)
        sum = bpf_csum_diff(0, 0, block, block_len, sum);
    else
        sum = bpf_csum_diff(block, block_len, 0, 0, sum);
    __u16 result = ~fold(sum) & 0xffff;
    return result ? result : 0xffff;
}

static __always_inline __u16 udp_checksum_v6(__u16 check, struct csum_words_v6 *old,
                                             struct csum_words_v6 *new, void *block,
                                             __u32 block_len, int added)
{
    __u32 sum = (~check) & 0xffff;
    sum = bpf_csum_diff((__be32 *)old, sizeof(*old), (__be32 *)new, sizeof(*new), sum);
    if (added)
        sum = bpf_csum_diff(0, 0, block, block_len, sum);
    else
        sum = bpf_csum_diff(block, block_len, 0, 0, sum);
    __u16 result = ~fold(sum) & 0xffff;
    return result ? result : 0xffff;
}

static __always_inline __u16 ipv4_header_checksum(struct iphdr *ip)
{
    __u16 *words = (__u16 *)ip;
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < 10; i++)
        sum += words[i];
    return ~fold(sum) & 0xffff;
}

/* Where a rewritten frame goes: fills the MACs of `eth` and returns the XDP action, or -1 when
 * the kernel has no next hop (the frame goes up unchanged). */
static __always_inline int next_hop(struct xdp_md *ctx, const struct trk_config *config,
                                    __u8 family, const __u8 *src, const __u8 *dst,
                                    __u16 sport, __u16 dport, __u16 ip_len, __u8 *smac,
                                    __u8 *dmac, __u32 *ifindex)
{
    if (config->flags & TRK_CONFIG_GATEWAY) {
        __builtin_memcpy(dmac, config->gateway_mac, 6);
        *ifindex = ctx->ingress_ifindex;
        return XDP_TX;
    }
    struct bpf_fib_lookup fib = {};
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = sport;
    fib.dport = dport;
    fib.ifindex = ctx->ingress_ifindex;
    if (family == TRK_FAMILY_IPV4) {
        fib.family = AF_INET;
        fib.tot_len = ip_len;
        __builtin_memcpy(&fib.ipv4_src, src, 4);
        __builtin_memcpy(&fib.ipv4_dst, dst, 4);
    } else {
        fib.family = AF_INET6;
        fib.tot_len = ip_len;
        __builtin_memcpy(fib.ipv6_src, src, 16);
        __builtin_memcpy(fib.ipv6_dst, dst, 16);
    }
    long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS)
        return -1;
    __builtin_memcpy(smac, fib.smac, 6);
    __builtin_memcpy(dmac, fib.dmac, 6);
    *ifindex = fib.ifindex;
    return fib.ifindex == ctx->ingress_ifindex ? XDP_TX : XDP_REDIRECT;
}

static __always_inline int finish(int action, __u32 ifindex)
{
    if (action == XDP_REDIRECT)
        return bpf_redirect(ifindex, 0);
    return action;
}

/* Rewrite an IPv4 frame: addresses `src`→`dst`, ports, and `delta` bytes of encapsulation
 * header added (> 0, header in `block`) or removed (< 0) at the start of the payload. */
static __always_inline int rewrite_v4(struct xdp_md *ctx, const struct trk_config *config,
                                      struct flow *flow, const __u8 *new_src, __u16 new_sport,
                                      const __u8 *new_dst, __u16 new_dport, void *block,
                                      int delta, __u32 backend_counter, __u32 counted_bytes)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    const __u32 hdrs = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr);
    if (data + hdrs > end)
        return XDP_PASS;
    struct ethhdr eth = *(struct ethhdr *)data;
    struct iphdr ip = *(struct iphdr *)(data + sizeof(struct ethhdr));
    struct udphdr udp = *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct iphdr));

    __u32 new_ulen = flow->datagram_len + sizeof(struct udphdr) + delta;
    __u8 smac[6], dmac[6];
    __u32 ifindex = 0;
    __builtin_memcpy(smac, eth.h_dest, 6);
    int action = next_hop(ctx, config, TRK_FAMILY_IPV4, new_src, new_dst, new_sport, new_dport,
                          new_ulen + sizeof(struct iphdr), smac, dmac, &ifindex);
    if (action < 0)
        return pass(TRK_PASS_NO_ROUTE);

    struct csum_words_v4 old = {}, new = {};
    __builtin_memcpy(old.src, flow->src, 4);
    __builtin_memcpy(old.dst, flow->dst, 4);
    old.sport = flow->sport;
    old.dport = flow->dport;
    old.len1 = old.len2 = udp.len;
    __builtin_memcpy(new.src, new_src, 4);
    __builtin_memcpy(new.dst, new_dst, 4);
    new.sport = new_sport;
    new.dport = new_dport;
    new.len1 = new.len2 = bpf_htons(new_ulen);

    __u8 removed[TRK_ENCAP_LEN_V4];
    if (delta < 0) {
        /* The header being stripped, for the checksum: it follows the UDP header. */
        void *at = data + hdrs;
        if (at + TRK_ENCAP_LEN_V4 > end)
            return XDP_PASS;
        __builtin_memcpy(removed, at, TRK_ENCAP_LEN_V4);
        udp.check = udp_checksum_v4(udp.check, &old, &new, removed, TRK_ENCAP_LEN_V4, 0);
    } else {
        udp.check = udp_checksum_v4(udp.check, &old, &new, block, TRK_ENCAP_LEN_V4, 1);
    }
    if (bpf_xdp_adjust_head(ctx, -delta))
        return XDP_PASS;
    data = (void *)(long)ctx->data;
    end = (void *)(long)ctx->data_end;
    if (data + hdrs > end)
        return XDP_ABORTED;

    __builtin_memcpy(eth.h_source, smac, 6);
    __builtin_memcpy(eth.h_dest, dmac, 6);
    __builtin_memcpy(&ip.saddr, new_src, 4);
    __builtin_memcpy(&ip.daddr, new_dst, 4);
    ip.tot_len = bpf_htons(new_ulen + sizeof(struct iphdr));
    ip.ttl = HOP_LIMIT;
    ip.check = 0;
    ip.check = ipv4_header_checksum(&ip);
    udp.source = new_sport;
    udp.dest = new_dport;
    udp.len = bpf_htons(new_ulen);
    *(struct ethhdr *)data = eth;
    *(struct iphdr *)(data + sizeof(struct ethhdr)) = ip;
    *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct iphdr)) = udp;
    if (delta > 0) {
        if (data + hdrs + TRK_ENCAP_LEN_V4 > end)
            return XDP_ABORTED;
        __builtin_memcpy(data + hdrs, block, TRK_ENCAP_LEN_V4);
    }
    count(backend_counter, 1);
    count(backend_counter + 1, counted_bytes);
    return finish(action, ifindex);
}

static __always_inline int rewrite_v6(struct xdp_md *ctx, const struct trk_config *config,
                                      struct flow *flow, const __u8 *new_src, __u16 new_sport,
                                      const __u8 *new_dst, __u16 new_dport, void *block,
                                      int delta, __u32 backend_counter, __u32 counted_bytes)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    const __u32 hdrs = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
    if (data + hdrs > end)
        return XDP_PASS;
    struct ethhdr eth = *(struct ethhdr *)data;
    struct ipv6hdr ip = *(struct ipv6hdr *)(data + sizeof(struct ethhdr));
    struct udphdr udp =
        *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr));

    __u32 new_ulen = flow->datagram_len + sizeof(struct udphdr) + delta;
    __u8 smac[6], dmac[6];
    __u32 ifindex = 0;
    __builtin_memcpy(smac, eth.h_dest, 6);
    int action = next_hop(ctx, config, TRK_FAMILY_IPV6, new_src, new_dst, new_sport, new_dport,
                          new_ulen, smac, dmac, &ifindex);
    if (action < 0)
        return pass(TRK_PASS_NO_ROUTE);

    struct csum_words_v6 old = {}, new = {};
    __builtin_memcpy(old.src, flow->src, 16);
    __builtin_memcpy(old.dst, flow->dst, 16);
    old.sport = flow->sport;
    old.dport = flow->dport;
    old.len1 = old.len2 = udp.len;
    __builtin_memcpy(new.src, new_src, 16);
    __builtin_memcpy(new.dst, new_dst, 16);
    new.sport = new_sport;
    new.dport = new_dport;
    new.len1 = new.len2 = bpf_htons(new_ulen);

    __u8 removed[TRK_ENCAP_LEN_V6];
    if (delta < 0) {
        void *at = data + hdrs;
        if (at + TRK_ENCAP_LEN_V6 > end)
            return XDP_PASS;
        __builtin_memcpy(removed, at, TRK_ENCAP_LEN_V6);
        udp.check = udp_checksum_v6(udp.check, &old, &new, removed, TRK_ENCAP_LEN_V6, 0);
    } else {
        udp.check = udp_checksum_v6(udp.check, &old, &new, block, TRK_ENCAP_LEN_V6, 1);
    }
    if (bpf_xdp_adjust_head(ctx, -delta))
        return XDP_PASS;
    data = (void *)(long)ctx->data;
    end = (void *)(long)ctx->data_end;
    if (data + hdrs > end)
        return XDP_ABORTED;

    __builtin_memcpy(eth.h_source, smac, 6);
    __builtin_memcpy(eth.h_dest, dmac, 6);
    __builtin_memcpy(&ip.saddr, new_src, 16);
    __builtin_memcpy(&ip.daddr, new_dst, 16);
    ip.payload_len = bpf_htons(new_ulen);
    ip.hop_limit = HOP_LIMIT;
    udp.source = new_sport;
    udp.dest = new_dport;
    udp.len = bpf_htons(new_ulen);
    *(struct ethhdr *)data = eth;
    *(struct ipv6hdr *)(data + sizeof(struct ethhdr)) = ip;
    *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr)) = udp;
    if (delta > 0) {
        if (data + hdrs + TRK_ENCAP_LEN_V6 > end)
            return XDP_ABORTED;
        __builtin_memcpy(data + hdrs, block, TRK_ENCAP_LEN_V6);
    }
    count(backend_counter, 1);
    count(backend_counter + 1, counted_bytes);
    return finish(action, ifindex);
}

static __always_inline int rewrite(struct xdp_md *ctx, const struct trk_config *config,
                                   struct flow *flow, const __u8 *new_src, __u16 new_sport,
                                   const __u8 *new_dst, __u16 new_dport, void *block, int delta,
                                   __u32 backend_counter, __u32 counted_bytes)
{
    if (flow->family == TRK_FAMILY_IPV4)
        return rewrite_v4(ctx, config, flow, new_src, new_sport, new_dst, new_dport, block,
                          delta, backend_counter, counted_bytes);
    return rewrite_v6(ctx, config, flow, new_src, new_sport, new_dst, new_dport, block, delta,
                      backend_counter, counted_bytes);
}

/* A backend's reply: [encap naming the client] [inner] → [inner] to the client, from the VIP. */
static __always_inline int from_backend(struct xdp_md *ctx, const struct trk_config *config,
                                        struct flow *flow, void *payload, __u32 backend,
                                        __u32 generation)
{
    void *end = (void *)(long)ctx->data_end;
    __u8 *h = payload;
    if (flow->datagram_len < 2 || (void *)(h + 2) > end)
        return drop(TRK_DROP_BACKEND_NOT_ENCAPSULATED);
    if (h[0] != TRK_ENCAP_MAGIC_0 || h[1] != TRK_ENCAP_MAGIC_1)
        return drop(TRK_DROP_BACKEND_NOT_ENCAPSULATED);
    if (flow->datagram_len < TRK_ENCAP_LEN_V4 || (void *)(h + TRK_ENCAP_LEN_V4) > end)
        return drop(TRK_DROP_MALFORMED_ENCAP);
    if (h[2] != TRK_ENCAP_VERSION)
        return drop(TRK_DROP_MALFORMED_ENCAP);
    __u8 family = h[3];
    __u32 minimum;
    if (family == TRK_FAMILY_IPV4)
        minimum = TRK_ENCAP_LEN_V4;
    else if (family == TRK_FAMILY_IPV6)
        minimum = TRK_ENCAP_LEN_V6;
    else
        return drop(TRK_DROP_MALFORMED_ENCAP);
    __u32 header_len = h[5];
    if (header_len < minimum || flow->datagram_len < header_len)
        return drop(TRK_DROP_MALFORMED_ENCAP);
    if (header_len != minimum)
        return pass(TRK_PASS_OPTIONS);

    __u8 client[16] = {};
    __u16 client_port = *(__u16 *)(h + 6);
    if (family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(client, h + 8, 4);
    } else {
        if ((void *)(h + TRK_ENCAP_LEN_V6) > end)
            return drop(TRK_DROP_MALFORMED_ENCAP);
        __builtin_memcpy(client, h + 8, 16);
    }
    struct trk_endpoint key;
    endpoint(&key, family, client, client_port, generation);
    if (bpf_map_lookup_elem(&trk_backend_index, &key))
        return drop(TRK_DROP_LOOP);
    if (family != flow->family)
        return pass(TRK_PASS_FAMILY);
    __u32 counter = backend * TRK_COUNTERS_PER_BACKEND + TRK_CTR_TO_CLIENT_PACKETS;
    return rewrite(ctx, config, flow, flow->dst, flow->dport, client, client_port, 0,
                   -(int)header_len, counter, flow->datagram_len - header_len);
}

/* A client's datagram: [datagram] → [encap naming the client] [datagram] to its backend. */
static __always_inline int from_client(struct xdp_md *ctx, const struct trk_config *config,
                                       struct flow *flow, void *payload, __u32 generation)
{
    void *end = (void *)(long)ctx->data_end;
    __u8 *d = payload;
    if (flow->datagram_len >= 2 && (void *)(d + 2) <= end && d[0] == TRK_ENCAP_MAGIC_0 &&
        d[1] == TRK_ENCAP_MAGIC_1) {
        struct trk_endpoint key;
        endpoint(&key, flow->family, flow->src, flow->sport, generation);
        if (bpf_map_lookup_elem(&trk_upstreams, &key))
            return pass(TRK_PASS_UPSTREAM);
        return drop(TRK_DROP_UNTRUSTED_ENCAP);
    }
    if (flow->datagram_len < TRK_MIN_CLIENT_DATAGRAM || (void *)(d + TRK_MIN_CLIENT_DATAGRAM) > end)
        return drop(TRK_DROP_TOO_SHORT);
    __u64 conn_id = 0;
#pragma unroll
    for (int i = 0; i < 8; i++)
        conn_id = (conn_id << 8) | d[TRK_CONN_ID_OFFSET + i];

    struct trk_generation *gen = bpf_map_lookup_elem(&trk_generations, &generation);
    if (!gen || gen->table_size == 0 || gen->table_size > TRK_MAX_TABLE_SIZE)
        return drop(TRK_DROP_NO_BACKEND);
    __u32 slot = generation * TRK_MAX_TABLE_SIZE + (__u32)reduce(conn_hash(conn_id, gen), gen->table_size);
    __u32 *chosen = bpf_map_lookup_elem(&trk_maglev, &slot);
    if (!chosen || *chosen >= TRK_MAX_BACKENDS)
        return drop(TRK_DROP_NO_BACKEND);
    __u32 index = *chosen;
    __u32 at = generation * TRK_MAX_BACKENDS + index;
    struct trk_endpoint *backend = bpf_map_lookup_elem(&trk_backends, &at);
    if (!backend || backend->family == 0)
        return drop(TRK_DROP_NO_BACKEND);
    if (backend->family != flow->family)
        return pass(TRK_PASS_FAMILY);

    __u8 flags = (gen->flags & TRK_GENERATION_DIRECT_RETURN) ? TRK_FLAG_DIRECT_RETURN : 0;
    __u32 counter = index * TRK_COUNTERS_PER_BACKEND + TRK_CTR_TO_BACKEND_PACKETS;
    __u8 backend_addr[16];
    __builtin_memcpy(backend_addr, backend->addr, 16);
    __u16 backend_port = backend->port;
    if (flow->family == TRK_FAMILY_IPV4) {
        __u8 header[TRK_ENCAP_LEN_V4] = {TRK_ENCAP_MAGIC_0, TRK_ENCAP_MAGIC_1, TRK_ENCAP_VERSION,
                                         TRK_FAMILY_IPV4,   flags,             TRK_ENCAP_LEN_V4};
        __builtin_memcpy(header + 6, &flow->sport, 2);
        __builtin_memcpy(header + 8, flow->src, 4);
        return rewrite_v4(ctx, config, flow, flow->dst, flow->dport, backend_addr, backend_port,
                          header, TRK_ENCAP_LEN_V4, counter, flow->datagram_len);
    }
    __u8 header[TRK_ENCAP_LEN_V6] = {TRK_ENCAP_MAGIC_0, TRK_ENCAP_MAGIC_1, TRK_ENCAP_VERSION,
                                     TRK_FAMILY_IPV6,   flags,             TRK_ENCAP_LEN_V6};
    __builtin_memcpy(header + 6, &flow->sport, 2);
    __builtin_memcpy(header + 8, flow->src, 16);
    return rewrite_v6(ctx, config, flow, flow->dst, flow->dport, backend_addr, backend_port,
                      header, TRK_ENCAP_LEN_V6, counter, flow->datagram_len);
}

static __always_inline int decide(struct xdp_md *ctx, struct flow *flow, void *payload)
{
    struct trk_endpoint key;
    endpoint(&key, flow->family, flow->dst, flow->dport, 0);
    if (!bpf_map_lookup_elem(&trk_vips, &key))
        return XDP_PASS; /* not for the balancer */
    __u32 zero = 0;
    struct trk_config *config = bpf_map_lookup_elem(&trk_config, &zero);
    if (!config)
        return XDP_PASS;
    __u32 generation = config->generation & 1;
    endpoint(&key, flow->family, flow->src, flow->sport, generation);
    __u32 *backend = bpf_map_lookup_elem(&trk_backend_index, &key);
    if (backend) {
        __u32 index = *backend;
        if (index >= TRK_MAX_BACKENDS)
            return XDP_PASS;
        return from_backend(ctx, config, flow, payload, index, generation);
    }
    return from_client(ctx, config, flow, payload, generation);
}

SEC("xdp")
int balancer_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    struct flow flow = {};
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP)
            return XDP_PASS;
        struct udphdr *udp = (void *)(ip + 1);
        if ((void *)(udp + 1) > end)
            return XDP_PASS;
        __u32 ulen = bpf_ntohs(udp->len);
        if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) ||
            bpf_ntohs(ip->tot_len) != ulen + sizeof(struct iphdr) || ulen < sizeof(*udp) ||
            (void *)udp + ulen > end)
            return XDP_PASS; /* not counted: not yet known to be for a VIP */
        flow.family = TRK_FAMILY_IPV4;
        __builtin_memcpy(flow.src, &ip->saddr, 4);
        __builtin_memcpy(flow.dst, &ip->daddr, 4);
        flow.sport = udp->source;
        flow.dport = udp->dest;
        flow.udp_check = udp->check;
        flow.datagram_len = ulen - sizeof(*udp);
        return decide(ctx, &flow, udp + 1);
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->nexthdr != IPPROTO_UDP)
            return XDP_PASS;
        struct udphdr *udp = (void *)(ip + 1);
        if ((void *)(udp + 1) > end)
            return XDP_PASS;
        __u32 ulen = bpf_ntohs(udp->len);
        if (bpf_ntohs(ip->payload_len) != ulen || ulen < sizeof(*udp) || (void *)udp + ulen > end)
            return XDP_PASS;
        flow.family = TRK_FAMILY_IPV6;
        __builtin_memcpy(flow.src, &ip->saddr, 16);
        __builtin_memcpy(flow.dst, &ip->daddr, 16);
        flow.sport = udp->source;
        flow.dport = udp->dest;
        flow.udp_check = udp->check;
        flow.datagram_len = ulen - sizeof(*udp);
        return decide(ctx, &flow, udp + 1);
    }
    return XDP_PASS;
}

/* The baseline of the benchmarks: swap the MACs and send the frame back (XDP_TX), nothing
 * parsed; what XDP costs before the balancer decides anything. */
SEC("xdp")
int forward_only_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    __u8 mac[6];
    __builtin_memcpy(mac, eth->h_source, 6);
    __builtin_memcpy(eth->h_source, eth->h_dest, 6);
    __builtin_memcpy(eth->h_dest, mac, 6);
    return XDP_TX;
}

/* For the peer of a veth that receives XDP_TX / XDP_REDIRECT frames: a veth delivers them only
 * when its peer runs an XDP program. */
SEC("xdp")
int pass_xdp(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
