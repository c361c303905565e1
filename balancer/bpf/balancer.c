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
 * TRK_ENCAP_MAX_LEN or not a multiple of 4, mixed families, no route. Every decision is
 * counted in trk_counters, which the control plane turns into the userspace datapath's
 * Prometheus metrics.
 *
 * The control plane writes a whole table generation (Maglev slots, backends, their index,
 * upstreams) while the other one serves, then flips trk_config.generation: a reload never
 * detaches the program and no frame sees half a table.
 *
 * Files: balancer_abi.h (shared with Rust); from trickles-xdp (xdp/bpf, shared with the other
 * network functions): frame.h (the parsed frame, the rewrite plan), checksum.h, encap.h and
 * encap_abi.h (the header), rewrite.h (carrying out a plan), testbed.h (the benchmarks'
 * programs); this file: the maps, the plan, the decision. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "balancer_abi.h"
#include "siphash.h"

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

/* SipHash-1-3 of the connection id as eight little-endian bytes, keyed by the generation: what
 * the userspace datapath computes (balancer/src/core/conn_hash.rs), so both pick one backend. */
static __always_inline __u64 conn_hash(__u64 conn_id, const struct trk_generation *gen)
{
    struct sip s;
    sip_init(&s, gen->hash_k0, gen->hash_k1);
    sip_word(&s, conn_id, 1);
    return sip_finish(&s, 8ULL << 56, 1, 3);
}

/* floor(key * size / 2^64) for size < 2^32, without 128-bit arithmetic. */
static __always_inline __u64 reduce(__u64 key, __u64 size)
{
    __u64 high = (key >> 32) * size;
    __u64 low = ((key & 0xffffffffULL) * size) >> 32;
    return (high + low) >> 32;
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

#include "frame.h"
#include "checksum.h"
#include "encap.h"
#include "rewrite.h"

/* Where a frame goes, decided by from_backend / from_client and carried out by rewrite. */
struct plan {
    struct rewrite_plan rewrite;
    __u32 counter;       /* first counter of the backend and direction */
    __u32 counted_bytes; /* the datagram's bytes in the metrics */
};

/* Per-CPU scratch space: the plan and the header buffers do not fit the 512-byte stack. */
struct scratch {
    struct plan plan;
    __u8 options[64];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} trk_scratch SEC(".maps");

#define REWRITE (-1) /* from_backend / from_client: carry out the plan */

/* Fills the plan: to `dst`:`dport`, `removed` bytes replaced by the plan's block. */
static __always_inline int plan_to(struct plan *plan, __u8 family, const __u8 *dst, __u16 dport,
                                   __u32 removed, __u32 counter, __u32 counted_bytes)
{
    __builtin_memset(plan->rewrite.dst, 0, 16);
    if (family == TRK_FAMILY_IPV4)
        __builtin_memcpy(plan->rewrite.dst, dst, 4);
    else
        __builtin_memcpy(plan->rewrite.dst, dst, 16);
    plan->rewrite.dport = dport;
    plan->rewrite.removed = removed;
    plan->counter = counter;
    plan->counted_bytes = counted_bytes;
    return REWRITE;
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
    if (parse_header(ctx, flow, h, &family, client, &client_port, &header_len))
        return drop(TRK_DROP_MALFORMED_ENCAP);
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
    plan->rewrite.added.len = 0;
    if (via_family) {
        struct trk_endpoint key;
        endpoint(&key, via_family, via, via_port, generation);
        if (!bpf_map_lookup_elem(&trk_upstreams, &key))
            return drop(TRK_DROP_UNKNOWN_VIA);
        if (via_family != flow->family)
            return pass(TRK_PASS_FAMILY);
        encap_header(&plan->rewrite.added, family, client, client_port, 0, 0, 0, 0);
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
        if (parse_header(ctx, flow, d, &family, client, &client_port, &header_len))
            return drop(TRK_DROP_MALFORMED_ENCAP);
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
    struct plan *plan = &scratch->plan;
    encap_header(&plan->rewrite.added, family, client, client_port, flags, via_family, flow->src,
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
    if (config->flags & TRK_CONFIG_POOL_KEY)
        return pass(TRK_PASS_POOL_KEY); /* hop tags are userspace's (docs/XDP.md) */
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
    struct next_hop_config hop = {.gateway = config->flags & TRK_CONFIG_GATEWAY};
    __builtin_memcpy(hop.gateway_mac, config->gateway_mac, 6);
    int action = rewrite(ctx, &hop, flow, &scratch->plan.rewrite);
    if (action == NO_NEXT_HOP)
        return pass(TRK_PASS_NO_ROUTE);
    if (action == XDP_TX || action == XDP_REDIRECT) {
        count(scratch->plan.counter, 1);
        count(scratch->plan.counter + 1, scratch->plan.counted_bytes);
    }
    return action;
}

SEC("xdp")
int balancer_xdp(struct xdp_md *ctx)
{
    struct flow flow = {};
    void *payload = parse_frame(ctx, &flow);
    if (!payload)
        return XDP_PASS; /* not counted: not yet known to be for a VIP */
    return decide(ctx, &flow, payload);
}

#include "testbed.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
