// SPDX-License-Identifier: MIT OR Apache-2.0
/* The balancer's XDP datapath: the decision of balancer/src/core/decision.rs, made on the
 * frame before the kernel allocates anything for it.
 *
 *   Ethernet ─ IPv4 (no options, not a fragment) | IPv6 (no extension header) ─ UDP to a VIP
 *     from a backend (trk_backend_index):  check the encapsulation header, strip it, send the
 *                                         inner datagram to the client it names (Return)
 *     from anyone else:                    Maglev slot of the connection id → backend; prepend
 *                                         the header naming the client (Forward); through an
 *                                         upstream relay, its header is replaced by one naming
 *                                         the client and the relay (VIA)
 *
 * Checksums are updated incrementally (RFC 1624), the next hop comes from bpf_fib_lookup
 * (XDP_TX on the same device, XDP_REDIRECT to another) or, in gateway mode, from the
 * configured MAC. Whatever the program does not handle goes up unchanged (XDP_PASS) to the
 * userspace datapath, which listens on the same VIP: frames not for a VIP, headers longer than
 * TRK_ENCAP_MAX_LEN or not a multiple of 4, mixed families, no route. Every decision is counted in trk_counters, which the
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

/* Port (host order) → the VIPs listening on it: an array lookup, where a hash of the address
 * cost 40 ns a frame. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct trk_vip_port);
} trk_vip_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRK_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} trk_counters SEC(".maps");

/* What the parser learnt about a frame; addresses and ports as on the wire. */
struct flow {
    __u8 src[16] __attribute__((aligned(8)));
    __u8 dst[16] __attribute__((aligned(8)));
    __u8 family;
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

static __always_inline __u64 mix(__u64 z)
{
    z = (z ^ (z >> 30)) * TRK_MIX_MUL_1;
    z = (z ^ (z >> 27)) * TRK_MIX_MUL_2;
    return z ^ (z >> 31);
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

/* A header to prepend: up to TRK_ENCAP_MAX_LEN bytes, `len` a multiple of 4 (0: nothing). */
struct block {
    __u8 bytes[64];
    __u32 len;
};

/* Where a frame goes, decided by from_backend / from_client and carried out by rewrite. */
struct plan {
    __u8 dst[16];
    __u16 dport;
    __u32 removed;        /* bytes of the payload's start replaced by `added` */
    __u32 counter;        /* first counter of the backend and direction */
    __u32 counted_bytes;  /* the datagram's bytes in the metrics */
    struct block added;
};

/* Per-CPU scratch space: the plan and the header buffers do not fit the 512-byte stack. */
struct scratch {
    struct plan plan;
    __u8 old_header[64];
    __u8 options[64];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} trk_scratch SEC(".maps");

#define REWRITE (-1) /* from_backend / from_client: carry out the plan */

/* `len` (a multiple of 4, 4..64) in a form whose bounds the verifier keeps. */
static __always_inline __u32 bound4(__u32 len)
{
    return ((((len >> 2) - 1) & 15) + 1) << 2;
}

/* One's-complement sum helpers, on memory as it lies (the sum does not depend on byte order
 * as long as the result is stored the same way). `n` 16-bit words, a constant. */
static __always_inline __u32 add_words(__u32 acc, const void *p, const int n, int negate)
{
    const __u16 *w = p;
#pragma unroll
    for (int i = 0; i < n; i++)
        acc += negate ? (__u16)~w[i] : w[i];
    return acc;
}

/* The same over a buffer of 64 bytes of which the first `len` (even) count. */
static __always_inline __u32 add_block(__u32 acc, const __u8 *b, __u32 len, int negate)
{
    const __u16 *w = (const __u16 *)b;
#pragma unroll
    for (int i = 0; i < 32; i++)
        if ((__u32)(2 * i) < len)
            acc += negate ? (__u16)~w[i] : w[i];
    return acc;
}

/* The new UDP checksum (RFC 1624: HC' = ~(~HC + ~m + m')) after the words `old` become `new`
 * (`words` 16-bit words), `rlen` bytes (`removed`) are stripped from the start of the payload
 * and `alen` bytes (`added`) put there instead; both lengths multiples of 4, so nothing after
 * them changes parity. Summed inline: two bpf_csum_diff calls cost as much as the rest of the
 * program. An IPv4 datagram without a checksum keeps none. */
static __always_inline __u16 udp_checksum(__u16 check, int v4, const void *old, const void *new,
                                          const int words, const __u8 *removed, __u32 rlen,
                                          const __u8 *added, __u32 alen)
{
    if (v4 && check == 0)
        return 0;
    __u32 sum = (__u16)~check;
    sum = add_words(sum, old, words, 1);
    sum = add_words(sum, new, words, 0);
    sum = add_block(sum, removed, rlen, 1);
    sum = add_block(sum, added, alen, 0);
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

/* Copies the `len` bytes at `at` in the frame to `out`: the two common lengths by direct
 * loads, others through the helper. Returns 0 on success. */
static __always_inline int load_header(struct xdp_md *ctx, void *data, void *end, __u32 at,
                                       __u8 *out, __u32 len)
{
    if (len == TRK_ENCAP_LEN_V4) {
        if (data + at + TRK_ENCAP_LEN_V4 > end)
            return -1;
        __builtin_memcpy(out, data + at, TRK_ENCAP_LEN_V4);
        return 0;
    }
    if (len == TRK_ENCAP_LEN_V6) {
        if (data + at + TRK_ENCAP_LEN_V6 > end)
            return -1;
        __builtin_memcpy(out, data + at, TRK_ENCAP_LEN_V6);
        return 0;
    }
    if (len)
        return bpf_xdp_load_bytes(ctx, at, out, bound4(len)) ? -1 : 0;
    return 0;
}

/* Writes `added` at `at` bytes into the frame: the two common lengths (a header without
 * options) by direct stores, others through the helper. Returns 0 on success. */
static __always_inline int store_header(struct xdp_md *ctx, void *data, void *end, __u32 at,
                                        struct block *added)
{
    if (added->len == TRK_ENCAP_LEN_V4) {
        if (data + at + TRK_ENCAP_LEN_V4 > end)
            return -1;
        __builtin_memcpy(data + at, added->bytes, TRK_ENCAP_LEN_V4);
        return 0;
    }
    if (added->len == TRK_ENCAP_LEN_V6) {
        if (data + at + TRK_ENCAP_LEN_V6 > end)
            return -1;
        __builtin_memcpy(data + at, added->bytes, TRK_ENCAP_LEN_V6);
        return 0;
    }
    if (added->len)
        return bpf_xdp_store_bytes(ctx, at, added->bytes, bound4(added->len)) ? -1 : 0;
    return 0;
}

/* Rewrite a frame: addresses and ports to `new_src`:`new_sport` → `new_dst`:`new_dport`, the
 * first `removed` bytes of the payload replaced by `added`, counted for `counter` with
 * `counted_bytes`. The IPv4 and IPv6 versions differ only in the IP header. */
static __always_inline int rewrite_v4(struct xdp_md *ctx, const struct trk_config *config,
                                      struct flow *flow, struct scratch *scratch)
{
    struct plan *plan = &scratch->plan;
    const __u8 *new_src = flow->dst, *new_dst = plan->dst;
    __u16 new_sport = flow->dport, new_dport = plan->dport;
    __u32 removed = plan->removed;
    struct block *added = &plan->added;
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    const __u32 hdrs = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr);
    if (data + hdrs > end)
        return XDP_PASS;
    struct ethhdr eth = *(struct ethhdr *)data;
    struct iphdr ip = *(struct iphdr *)(data + sizeof(struct ethhdr));
    struct udphdr udp = *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct iphdr));

    int delta = (int)added->len - (int)removed;
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
    __u8 *old_header = scratch->old_header;
    if (load_header(ctx, data, end, hdrs, old_header, removed))
        return XDP_PASS;
    udp.check = udp_checksum(udp.check, 1, &old, &new, sizeof(old) / 2, old_header, removed,
                             added->bytes, added->len);
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
    if (store_header(ctx, data, end, hdrs, added))
        return XDP_ABORTED;
    count(plan->counter, 1);
    count(plan->counter + 1, plan->counted_bytes);
    return finish(action, ifindex);
}

static __always_inline int rewrite_v6(struct xdp_md *ctx, const struct trk_config *config,
                                      struct flow *flow, struct scratch *scratch)
{
    struct plan *plan = &scratch->plan;
    const __u8 *new_src = flow->dst, *new_dst = plan->dst;
    __u16 new_sport = flow->dport, new_dport = plan->dport;
    __u32 removed = plan->removed;
    struct block *added = &plan->added;
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    const __u32 hdrs = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
    if (data + hdrs > end)
        return XDP_PASS;
    struct ethhdr eth = *(struct ethhdr *)data;
    struct ipv6hdr ip = *(struct ipv6hdr *)(data + sizeof(struct ethhdr));
    struct udphdr udp =
        *(struct udphdr *)(data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr));

    int delta = (int)added->len - (int)removed;
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
    __u8 *old_header = scratch->old_header;
    if (load_header(ctx, data, end, hdrs, old_header, removed))
        return XDP_PASS;
    udp.check = udp_checksum(udp.check, 0, &old, &new, sizeof(old) / 2, old_header, removed,
                             added->bytes, added->len);
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
    if (store_header(ctx, data, end, hdrs, added))
        return XDP_ABORTED;
    count(plan->counter, 1);
    count(plan->counter + 1, plan->counted_bytes);
    return finish(action, ifindex);
}

static __always_inline int rewrite(struct xdp_md *ctx, const struct trk_config *config,
                                   struct flow *flow, struct scratch *scratch)
{
    if (flow->family == TRK_FAMILY_IPV4)
        return rewrite_v4(ctx, config, flow, scratch);
    return rewrite_v6(ctx, config, flow, scratch);
}

/* Fills the plan: to `dst`:`dport`, `removed` bytes replaced by the plan's block. */
static __always_inline int plan_to(struct plan *plan, __u8 family, const __u8 *dst, __u16 dport,
                                   __u32 removed, __u32 counter, __u32 counted_bytes)
{
    __builtin_memset(plan->dst, 0, 16);
    if (family == TRK_FAMILY_IPV4)
        __builtin_memcpy(plan->dst, dst, 4);
    else
        __builtin_memcpy(plan->dst, dst, 16);
    plan->dport = dport;
    plan->removed = removed;
    plan->counter = counter;
    plan->counted_bytes = counted_bytes;
    return REWRITE;
}

/* Writes the VIA option naming `family` `addr`:`port` at `at`; returns its length. */
static __always_inline __u32 put_via(__u8 *at, __u8 family, const __u8 *addr, __u16 port)
{
    at[0] = TRK_OPTION_VIA;
    __builtin_memcpy(at + 2, &port, 2);
    if (family == TRK_FAMILY_IPV4) {
        at[1] = 6;
        __builtin_memcpy(at + 4, addr, 4);
        return 8;
    }
    at[1] = 18;
    __builtin_memcpy(at + 4, addr, 16);
    return 20;
}

/* The encapsulation header naming `peer` with `flags`, and a VIA option when `via_family` is
 * not 0: what EncapRepr::emit_via writes. */
static __always_inline void encap_header(struct block *b, __u8 family, const __u8 *addr,
                                         __u16 port, __u8 flags, __u8 via_family,
                                         const __u8 *via_addr, __u16 via_port)
{
    b->bytes[0] = TRK_ENCAP_MAGIC_0;
    b->bytes[1] = TRK_ENCAP_MAGIC_1;
    b->bytes[2] = TRK_ENCAP_VERSION;
    b->bytes[3] = family;
    b->bytes[4] = flags;
    __builtin_memcpy(b->bytes + 6, &port, 2);
    __u32 len;
    if (family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(b->bytes + 8, addr, 4);
        len = TRK_ENCAP_LEN_V4;
        if (via_family)
            len += put_via(b->bytes + TRK_ENCAP_LEN_V4, via_family, via_addr, via_port);
    } else {
        __builtin_memcpy(b->bytes + 8, addr, 16);
        len = TRK_ENCAP_LEN_V6;
        if (via_family)
            len += put_via(b->bytes + TRK_ENCAP_LEN_V6, via_family, via_addr, via_port);
    }
    b->bytes[5] = len;
    b->len = len;
}

/* Offset of the UDP payload in a frame of `family` (no IP options, no extension headers). */
static __always_inline __u32 payload_offset(__u8 family)
{
    return family == TRK_FAMILY_IPV4
               ? sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr)
               : sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
}

/* The fixed part of an encapsulation header at `h` (the start of the payload): checks as
 * EncapPacket::new_checked; fills `peer`, `peer_port`, `family` and `header_len`. Returns 0,
 * or the drop reason + 1. */
static __always_inline int parse_header(struct xdp_md *ctx, struct flow *flow, __u8 *h,
                                        __u8 *family, __u8 *peer, __u16 *peer_port,
                                        __u32 *header_len)
{
    void *end = (void *)(long)ctx->data_end;
    if (flow->datagram_len < TRK_ENCAP_LEN_V4 || (void *)(h + TRK_ENCAP_LEN_V4) > end)
        return TRK_DROP_MALFORMED_ENCAP + 1;
    if (h[2] != TRK_ENCAP_VERSION)
        return TRK_DROP_MALFORMED_ENCAP + 1;
    __u32 minimum;
    if (h[3] == TRK_FAMILY_IPV4)
        minimum = TRK_ENCAP_LEN_V4;
    else if (h[3] == TRK_FAMILY_IPV6)
        minimum = TRK_ENCAP_LEN_V6;
    else
        return TRK_DROP_MALFORMED_ENCAP + 1;
    __u32 len = h[5];
    if (len < minimum || flow->datagram_len < len)
        return TRK_DROP_MALFORMED_ENCAP + 1;
    *family = h[3];
    *header_len = len;
    *peer_port = *(__u16 *)(h + 6);
    if (*family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(peer, h + 8, 4);
    } else {
        if ((void *)(h + TRK_ENCAP_LEN_V6) > end)
            return TRK_DROP_MALFORMED_ENCAP + 1;
        __builtin_memcpy(peer, h + 8, 16);
    }
    return 0;
}

static __always_inline int is_backend(__u8 family, const __u8 *addr, __u16 port,
                                      __u32 generation)
{
    struct trk_endpoint key;
    endpoint(&key, family, addr, port, generation);
    return bpf_map_lookup_elem(&trk_backend_index, &key) != 0;
}

/* A backend's reply: [header naming the client (and a VIA relay)] [inner] → [inner] to the
 * client, or [header naming the client] [inner] to the VIA relay; from the VIP. */
static __always_inline int from_backend(struct xdp_md *ctx, struct flow *flow, void *payload,
                                        __u32 backend, __u32 generation,
                                        struct scratch *scratch)
{
    void *end = (void *)(long)ctx->data_end;
    __u8 *h = payload;
    if (flow->datagram_len < 2 || (void *)(h + 2) > end)
        return drop(TRK_DROP_BACKEND_NOT_ENCAPSULATED);
    if (h[0] != TRK_ENCAP_MAGIC_0 || h[1] != TRK_ENCAP_MAGIC_1)
        return drop(TRK_DROP_BACKEND_NOT_ENCAPSULATED);
    __u8 family = 0, client[16] = {};
    __u16 client_port = 0;
    __u32 header_len = 0;
    int bad = parse_header(ctx, flow, h, &family, client, &client_port, &header_len);
    if (bad)
        return drop(bad - 1);
    __u32 minimum = family == TRK_FAMILY_IPV4 ? TRK_ENCAP_LEN_V4 : TRK_ENCAP_LEN_V6;

    /* Options: the first VIA counts, others are skipped (find_via). */
    __u8 via_family = 0, via[16] = {};
    __u16 via_port = 0;
    if (header_len != minimum) {
        if (header_len > TRK_ENCAP_MAX_LEN || (header_len & 3))
            return pass(TRK_PASS_OPTIONS);
        __u8 *o = scratch->options;
        if (bpf_xdp_load_bytes(ctx, payload_offset(flow->family), o, bound4(header_len)))
            return XDP_PASS;
        __u32 off = minimum;
        int done = 0;
        for (int i = 0; i < 16; i++) {
            if (off >= header_len) {
                done = 1;
                break;
            }
            if (off + 2 > header_len)
                return drop(TRK_DROP_MALFORMED_ENCAP);
            __u8 type = o[off & 63];
            __u32 len = o[(off + 1) & 63];
            if (off + 2 + len > header_len)
                return drop(TRK_DROP_MALFORMED_ENCAP);
            if (type == TRK_OPTION_VIA) {
                if (len != 6 && len != 18)
                    return drop(TRK_DROP_MALFORMED_ENCAP);
                via_port = (__u16)o[(off + 2) & 63] | ((__u16)o[(off + 3) & 63] << 8);
                via_family = len == 6 ? TRK_FAMILY_IPV4 : TRK_FAMILY_IPV6;
#pragma unroll
                for (int k = 0; k < 16; k++)
                    if (k < (int)len - 2)
                        via[k] = o[(off + 4 + k) & 63];
                done = 1;
                break;
            }
            off += 2 + len;
        }
        if (!done)
            return pass(TRK_PASS_OPTIONS);
    }
    if (is_backend(family, client, client_port, generation) ||
        (via_family && is_backend(via_family, via, via_port, generation)))
        return drop(TRK_DROP_LOOP);
    __u32 counter = backend * TRK_COUNTERS_PER_BACKEND + TRK_CTR_TO_CLIENT_PACKETS;
    __u32 inner_len = flow->datagram_len - header_len;
    struct plan *plan = &scratch->plan;
    plan->added.len = 0;
    if (via_family) {
        struct trk_endpoint key;
        endpoint(&key, via_family, via, via_port, generation);
        if (!bpf_map_lookup_elem(&trk_upstreams, &key))
            return drop(TRK_DROP_UNKNOWN_VIA);
        if (via_family != flow->family)
            return pass(TRK_PASS_FAMILY);
        encap_header(&plan->added, family, client, client_port, 0, 0, 0, 0);
        return plan_to(plan, via_family, via, via_port, header_len, counter, inner_len);
    }
    if (family != flow->family)
        return pass(TRK_PASS_FAMILY);
    return plan_to(plan, family, client, client_port, header_len, counter, inner_len);
}

/* A client's datagram, [datagram] or (through an upstream relay) [header naming the client]
 * [datagram] → [header naming the client (and the relay as VIA)] [datagram] to its backend. */
static __always_inline int from_client(struct xdp_md *ctx, struct flow *flow, void *payload,
                                       __u32 generation, struct scratch *scratch)
{
    void *end = (void *)(long)ctx->data_end;
    __u8 *d = payload;
    __u8 family = flow->family, client[16] = {}, via_family = 0;
    __u16 client_port = flow->sport;
    __u32 header_len = 0;
    __builtin_memcpy(client, flow->src, 16);
    if (flow->datagram_len >= 2 && (void *)(d + 2) <= end && d[0] == TRK_ENCAP_MAGIC_0 &&
        d[1] == TRK_ENCAP_MAGIC_1) {
        struct trk_endpoint key;
        endpoint(&key, flow->family, flow->src, flow->sport, generation);
        if (!bpf_map_lookup_elem(&trk_upstreams, &key))
            return drop(TRK_DROP_UNTRUSTED_ENCAP);
        __builtin_memset(client, 0, 16);
        int bad = parse_header(ctx, flow, d, &family, client, &client_port, &header_len);
        if (bad)
            return drop(bad - 1);
        if (is_backend(family, client, client_port, generation))
            return drop(TRK_DROP_LOOP);
        via_family = flow->family;
    }
    if (flow->datagram_len < header_len + TRK_MIN_CLIENT_DATAGRAM)
        return drop(TRK_DROP_TOO_SHORT);
    if (header_len > TRK_ENCAP_MAX_LEN || (header_len & 3))
        return pass(TRK_PASS_OPTIONS);
    __u64 conn_id = 0;
    if (header_len == 0) {
        if ((void *)(d + TRK_MIN_CLIENT_DATAGRAM) > end)
            return drop(TRK_DROP_TOO_SHORT);
#pragma unroll
        for (int i = 0; i < 8; i++)
            conn_id = (conn_id << 8) | d[TRK_CONN_ID_OFFSET + i];
    } else {
        __u8 id[8];
        if (bpf_xdp_load_bytes(ctx,
                               payload_offset(flow->family) + header_len + TRK_CONN_ID_OFFSET,
                               id, 8))
            return drop(TRK_DROP_TOO_SHORT);
#pragma unroll
        for (int i = 0; i < 8; i++)
            conn_id = (conn_id << 8) | id[i];
    }

    struct trk_generation *gen = bpf_map_lookup_elem(&trk_generations, &generation);
    if (!gen || gen->table_size == 0 || gen->table_size > TRK_MAX_TABLE_SIZE)
        return drop(TRK_DROP_NO_BACKEND);
    __u32 slot = generation * TRK_MAX_TABLE_SIZE + (__u32)reduce(mix(conn_id), gen->table_size);
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
    struct plan *plan = &scratch->plan;
    encap_header(&plan->added, family, client, client_port, flags, via_family, flow->src,
                 flow->sport);
    return plan_to(plan, flow->family, backend_addr, backend_port, header_len, counter,
                   flow->datagram_len - header_len);
}

static __always_inline int is_vip(const struct trk_vip_port *vip, const struct flow *flow)
{
    if (flow->family == TRK_FAMILY_IPV4) {
        __u32 a, b;
        __builtin_memcpy(&a, flow->dst, 4);
        __builtin_memcpy(&b, vip->v4, 4);
        return (vip->families & TRK_VIP_IPV4) && a == b;
    }
    __u64 a0, a1, b0, b1;
    __builtin_memcpy(&a0, flow->dst, 8);
    __builtin_memcpy(&a1, flow->dst + 8, 8);
    __builtin_memcpy(&b0, vip->v6, 8);
    __builtin_memcpy(&b1, vip->v6 + 8, 8);
    return (vip->families & TRK_VIP_IPV6) && a0 == b0 && a1 == b1;
}

static __always_inline int decide(struct xdp_md *ctx, struct flow *flow, void *payload)
{
    __u32 port = bpf_ntohs(flow->dport);
    struct trk_vip_port *vip = bpf_map_lookup_elem(&trk_vip_ports, &port);
    if (!vip || !is_vip(vip, flow))
        return XDP_PASS; /* not for the balancer */
    struct trk_endpoint key;
    __u32 zero = 0;
    struct trk_config *config = bpf_map_lookup_elem(&trk_config, &zero);
    if (!config)
        return XDP_PASS;
    struct scratch *scratch = bpf_map_lookup_elem(&trk_scratch, &zero);
    if (!scratch)
        return XDP_PASS;
    __u32 generation = config->generation & 1;
    endpoint(&key, flow->family, flow->src, flow->sport, generation);
    __u32 *backend = bpf_map_lookup_elem(&trk_backend_index, &key);
    int verdict;
    if (backend) {
        __u32 index = *backend;
        if (index >= TRK_MAX_BACKENDS)
            return XDP_PASS;
        verdict = from_backend(ctx, flow, payload, index, generation, scratch);
    } else {
        verdict = from_client(ctx, flow, payload, generation, scratch);
    }
    if (verdict != REWRITE)
        return verdict;
    return rewrite(ctx, config, flow, scratch);
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

/* The benchmarks' generator: overwrites the frame with the template in trk_bench_frame and
 * sends it out (XDP_TX). Run by program test-run in live-frames mode, it injects the same frame
 * at the kernel's speed even though the frames' pages come back modified by the program on the
 * other side of the veth. */
struct bench_frame {
    __u32 len;
    __u8 bytes[256];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct bench_frame);
} trk_bench_frame SEC(".maps");

SEC("xdp")
int generate_xdp(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct bench_frame *t = bpf_map_lookup_elem(&trk_bench_frame, &zero);
    if (!t)
        return XDP_ABORTED;
    if (t->len == 0 || t->len > sizeof(t->bytes))
        return XDP_ABORTED;
    __u32 len = ((t->len - 1) & 0xff) + 1; /* 1..256, in a form the verifier keeps */
    if (bpf_xdp_store_bytes(ctx, 0, t->bytes, len))
        return XDP_ABORTED;
    return XDP_TX;
}

/* The benchmarks' sink: drops every frame (the veth counts them as xdp_drops). */
SEC("xdp")
int drop_xdp(struct xdp_md *ctx)
{
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
