// SPDX-License-Identifier: MIT OR Apache-2.0
/* The mirror's XDP datapath: the decision of mirror/src/mirror.rs (Mirror::decide) for
 * datagrams whose path is not emulated, made on the frame.
 *
 *   UDP to a listen address (trk_mirror_locals):
 *     from a listen address ─▶ drop loop
 *     encapsulation header checked as EncapPacket::new_checked ─▶ drop malformed
 *     options (a tag, padding) ─▶ up to userspace, which verifies tags
 *     sender by address: the most specific pattern (trk_mirror_patterns) ─▶ drop unknown_source;
 *       its peer has keys ─▶ drop missing_tag
 *     destination forwardable and within the peer's reach ─▶ drop destination_not_allowed;
 *       a listen address ─▶ drop loop
 *     the sender's direction is WAN-emulated ─▶ up to userspace (the emulator holds datagrams)
 *     the source guard (trk_guard: packet and byte buckets, the never-more-out-than-in credit)
 *       ─▶ drop rate_limited / amplification
 *     rewrite: the header now names the sender, options dropped, from the listen address to the
 *       destination the header named
 *
 * The guard is the XDP datapath's own table, laid out as the userspace SourceGuard describes
 * (a keyed hash of the source IP picks a slot; a new source takes the slot over with full
 * buckets and no credit), each slot under its own spin lock. Counters as the userspace
 * MirrorCounters count them. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mirror_abi.h"

#define MICROS_PER_TOKEN 1000000ULL /* buckets count millionths of a token, as token_bucket.rs */

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trk_mirror_config);
} trk_mirror_config SEC(".maps");

struct patterns {
    struct trk_pattern p[TRK_MIRROR_MAX_PATTERNS];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct patterns);
} trk_mirror_patterns SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRK_MIRROR_MAX_PEERS);
    __type(key, __u32);
    __type(value, struct trk_mirror_peer);
} trk_mirror_peers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRK_MIRROR_LOCAL_PORTS);
    __type(key, __u32);
    __type(value, struct trk_local_port);
} trk_mirror_locals SEC(".maps");

struct guard_slot {
    struct bpf_spin_lock lock;
    __u8 family; /* 0: free */
    __u8 pad[3];
    __u8 addr[16];
    __u64 packets; /* millionths of a token */
    __u64 bytes;
    __u64 packets_last; /* µs */
    __u64 bytes_last;
    __u64 credit;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRK_MIRROR_GUARD_SLOTS);
    __type(key, __u32);
    __type(value, struct guard_slot);
} trk_guard SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRK_MCTR_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} trk_mirror_counters SEC(".maps");

static __always_inline void count(__u32 index, __u64 n)
{
    __u64 *counter = bpf_map_lookup_elem(&trk_mirror_counters, &index);
    if (counter)
        *counter += n;
}

static __always_inline int reject(__u32 reason)
{
    count(TRK_MCTR_REJECT_BASE + reason, 1);
    return XDP_DROP;
}

static __always_inline int pass(__u32 reason)
{
    count(TRK_MCTR_PASS_BASE + reason, 1);
    return XDP_PASS;
}

#include "frame.h"
#include "checksum.h"
#include "encap.h"
#include "rewrite.h"

#include "mirror_guard.h"

struct scratch {
    struct rewrite_plan rewrite;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} trk_mirror_scratch SEC(".maps");

/* `addr`:`port` of `family` is one of the listen addresses. */
static __always_inline int is_local(__u8 family, const __u8 *addr, __u16 port)
{
    __u32 host_port = bpf_ntohs(port);
    struct trk_local_port *local = bpf_map_lookup_elem(&trk_mirror_locals, &host_port);
    if (!local)
        return 0;
    __u8 differ = 0;
    if (family == TRK_FAMILY_IPV4) {
#pragma unroll
        for (int i = 0; i < 4; i++)
            differ |= local->v4[i] ^ addr[i];
        return (local->families & 1) && !differ;
    }
#pragma unroll
    for (int i = 0; i < 16; i++)
        differ |= local->v6[i] ^ addr[i];
    return (local->families & 2) && !differ;
}

/* Whether `pattern` matches `family` `addr`:`port` (AddressPattern::matches). */
static __always_inline int matches(const struct trk_pattern *pattern, __u8 family,
                                   const __u8 *addr, __u16 port)
{
    if (pattern->family != family)
        return 0;
    if (pattern->prefix_len == TRK_PATTERN_EXACT) {
        if (pattern->port != port)
            return 0;
#pragma unroll
        for (int i = 0; i < 16; i++)
            if (pattern->addr[i] != addr[i])
                return 0;
        return 1;
    }
    __u32 len = pattern->prefix_len;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        __u32 bits = len > 8 * i ? len - 8 * i : 0;
        if (bits == 0)
            break;
        __u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
        if ((pattern->addr[i] ^ addr[i]) & mask)
            return 0;
    }
    return 1;
}

/* The peer whose pattern matches `addr`:`port` most specifically (PeerTable::by_address), or -1. */
static __always_inline int by_address(const struct patterns *patterns, __u32 count_in_use,
                                      __u8 family, const __u8 *addr, __u16 port)
{
    int best = -1;
    __u32 best_rank = 0;
    for (int i = 0; i < TRK_MIRROR_MAX_PATTERNS; i++) {
        if ((__u32)i >= count_in_use)
            break;
        const struct trk_pattern *p = &patterns->p[i];
        if (matches(p, family, addr, port) && (best < 0 || p->rank > best_rank)) {
            best = p->peer;
            best_rank = p->rank;
        }
    }
    return best;
}

/* forwardable(): a port, not the unspecified address, not multicast, not IPv4 broadcast. */
static __always_inline int forwardable(__u8 family, const __u8 *addr, __u16 port)
{
    if (port == 0)
        return 0;
    __u8 any = 0;
    if (family == TRK_FAMILY_IPV4) {
#pragma unroll
        for (int i = 0; i < 4; i++)
            any |= addr[i];
        if (!any || (addr[0] & 0xf0) == 0xe0)
            return 0;
        return !(addr[0] == 255 && addr[1] == 255 && addr[2] == 255 && addr[3] == 255);
    }
#pragma unroll
    for (int i = 0; i < 16; i++)
        any |= addr[i];
    return any && addr[0] != 0xff;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d), which the userspace datapath makes IPv4. */
static __always_inline int ipv4_mapped(__u8 family, const __u8 *addr)
{
    if (family != TRK_FAMILY_IPV6)
        return 0;
    __u8 zero = 0;
#pragma unroll
    for (int i = 0; i < 10; i++)
        zero |= addr[i];
    return zero == 0 && addr[10] == 0xff && addr[11] == 0xff;
}

/* The decision; `*received` is set when the frame is the mirror's to decide (not passed up):
 * the userspace datapath counts the others when it receives them. */
static __always_inline int decide(struct xdp_md *ctx, struct flow *flow, __u8 *h, int *received)
{
    if (!is_local(flow->family, flow->dst, flow->dport))
        return XDP_PASS; /* not for the mirror */
    __u32 zero = 0;
    struct trk_mirror_config *config = bpf_map_lookup_elem(&trk_mirror_config, &zero);
    struct patterns *patterns = bpf_map_lookup_elem(&trk_mirror_patterns, &zero);
    struct scratch *scratch = bpf_map_lookup_elem(&trk_mirror_scratch, &zero);
    if (!config || !patterns || !scratch)
        return XDP_PASS;
    if (ipv4_mapped(flow->family, flow->src))
        return pass(TRK_MPASS_FAMILY);
    *received = 1;
    if (is_local(flow->family, flow->src, flow->sport))
        return reject(TRK_REJECT_LOOP);

    void *end = (void *)(long)ctx->data_end;
    if (flow->datagram_len < 2 || (void *)(h + 2) > end || h[0] != TRK_ENCAP_MAGIC_0 ||
        h[1] != TRK_ENCAP_MAGIC_1)
        return reject(TRK_REJECT_MALFORMED);
    __u8 family = 0, destination[16] = {};
    __u16 dport = 0;
    __u32 header_len = 0;
    if (parse_header(ctx, flow, h, &family, destination, &dport, &header_len))
        return reject(TRK_REJECT_MALFORMED);
    __u32 minimum = family == TRK_FAMILY_IPV4 ? TRK_ENCAP_LEN_V4 : TRK_ENCAP_LEN_V6;
    if (header_len != minimum || ipv4_mapped(family, destination)) {
        *received = 0;
        return pass(header_len != minimum ? TRK_MPASS_OPTIONS : TRK_MPASS_FAMILY);
    }
    __u8 flags = h[4];

    int peer = by_address(patterns, config->patterns, flow->family, flow->src, flow->sport);
    if (peer < 0)
        return reject(TRK_REJECT_UNKNOWN_SOURCE);
    __u32 peer_index = peer;
    struct trk_mirror_peer *info = bpf_map_lookup_elem(&trk_mirror_peers, &peer_index);
    if (!info)
        return reject(TRK_REJECT_UNKNOWN_SOURCE);
    if (info->flags & TRK_PEER_HAS_KEYS)
        return reject(TRK_REJECT_MISSING_TAG);
    if (!forwardable(family, destination, dport) ||
        (!(info->flags & TRK_PEER_REACH_ANY) &&
         by_address(patterns, config->patterns, family, destination, dport) < 0))
        return reject(TRK_REJECT_DESTINATION_NOT_ALLOWED);
    if (is_local(family, destination, dport))
        return reject(TRK_REJECT_LOOP);
    __u32 emulated = (info->flags & TRK_PEER_SERVER) ? TRK_MIRROR_WAN_TO_CLIENT
                                                      : TRK_MIRROR_WAN_TO_SERVER;
    if ((config->flags & emulated) || family != flow->family) {
        *received = 0;
        return pass((config->flags & emulated) ? TRK_MPASS_WAN : TRK_MPASS_FAMILY);
    }

    struct rewrite_plan *plan = &scratch->rewrite;
    encap_header(&plan->added, flow->family, flow->src, flow->sport, flags, 0, 0, 0);
    __u32 out_len = flow->datagram_len - header_len + plan->added.len;
    int verdict = guard(config, flow, flow->datagram_len, out_len);
    if (verdict >= 0)
        return reject(verdict);

    __builtin_memset(plan->dst, 0, 16);
    if (family == TRK_FAMILY_IPV4)
        __builtin_memcpy(plan->dst, destination, 4);
    else
        __builtin_memcpy(plan->dst, destination, 16);
    plan->dport = dport;
    plan->removed = header_len;
    struct next_hop_config hop = {.gateway = config->flags & TRK_MIRROR_GATEWAY};
    __builtin_memcpy(hop.gateway_mac, config->gateway_mac, 6);
    int action = rewrite(ctx, &hop, flow, plan);
    if (action == NO_NEXT_HOP) {
        /* The credit was spent here for a datagram userspace now forwards out of its own. */
        *received = 0;
        return pass(TRK_MPASS_NO_ROUTE);
    }
    if (action == XDP_TX || action == XDP_REDIRECT) {
        count(TRK_MCTR_PEER_BASE + 2 * (peer_index & (TRK_MIRROR_MAX_PEERS - 1)), 1);
        count(TRK_MCTR_PEER_BASE + 2 * (peer_index & (TRK_MIRROR_MAX_PEERS - 1)) + 1, out_len);
    }
    return action;
}

SEC("xdp")
int mirror_xdp(struct xdp_md *ctx)
{
    struct flow flow = {};
    void *payload = parse_frame(ctx, &flow);
    if (!payload)
        return XDP_PASS;
    int received = 0;
    int action = decide(ctx, &flow, payload, &received);
    if (received) {
        count(TRK_MCTR_RECEIVED_PACKETS, 1);
        count(TRK_MCTR_RECEIVED_BYTES, flow.datagram_len);
    }
    return action;
}

#include "testbed.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
