// SPDX-License-Identifier: MIT OR Apache-2.0
/* The mirror's XDP datapath: the decision of mirror/src/mirror.rs (Mirror::decide) for
 * datagrams whose path is not emulated, made on the frame.
 *
 *   UDP to a listen address (trk_mirror_locals):
 *     from a listen address ─▶ drop loop
 *     encapsulation header checked as EncapPacket::new_checked ─▶ drop malformed
 *     options walked as AuthOption::find (malformed); a tag: its key (trk_mirror_keys, unknown
 *       key; only from the key's peer's addresses when it has some), the SipHash-2-4 tag over
 *       the whole datagram (bad tag), the timestamp against the wall clock (stale tag)
 *     no tag: the sender by address, the most specific pattern (trk_mirror_patterns) ─▶ drop
 *       unknown_source; its peer has keys ─▶ drop missing_tag
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
#include "mirror_tag.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, struct trk_mirror_key);
} trk_mirror_keys SEC(".maps");

struct scratch {
    struct rewrite_plan rewrite;
    __u8 options[64];
    __u8 message[2080]; /* the tag's input: 25 bytes of prefix, then the datagram (and slack) */
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

#define ANY_PEER (-1)
#define SERVER_SIDE (-2)

/* One scan over the patterns (a bpf_loop callback, verified once however many patterns). */
struct scan {
    const struct patterns *patterns;
    const __u8 *addr;
    __u32 count;
    __u32 best_rank;
    int best;    /* the most specific match's peer, or -1 */
    int only;    /* >= 0: only this peer's patterns count, the first match ends the scan;
                  * SERVER_SIDE: only server-side peers' patterns, likewise */
    __u16 port;
    __u8 family;
};

static long scan_pattern(__u32 i, void *context)
{
    struct scan *scan = context;
    if (i >= scan->count)
        return 1;
    __u64 index = i;
    /* An opaque mask: the compiler may not drop it, the verifier needs it. */
    asm volatile("%0 &= 63" : "+r"(index));
    const struct trk_pattern *p = &scan->patterns->p[index];
    if (scan->only >= 0 && p->peer != scan->only)
        return 0;
    if (scan->only == SERVER_SIDE && !p->server)
        return 0;
    if (!matches(p, scan->family, scan->addr, scan->port))
        return 0;
    if (scan->only != ANY_PEER) {
        scan->best = p->peer;
        return 1;
    }
    if (scan->best < 0 || p->rank > scan->best_rank) {
        scan->best = p->peer;
        scan->best_rank = p->rank;
    }
    return 0;
}

/* With `only` ANY_PEER: the peer whose pattern matches `addr`:`port` most specifically
 * (PeerTable::by_address), or -1; with a peer's index: whether one of its patterns matches
 * (the index, or -1); with SERVER_SIDE: whether a server-side peer's pattern matches. */
static __always_inline int by_address(const struct patterns *patterns, __u32 count_in_use,
                                      __u8 family, const __u8 *addr, __u16 port, int only)
{
    struct scan scan = {
        .patterns = patterns,
        .addr = addr,
        .count = count_in_use,
        .best = -1,
        .only = only,
        .port = port,
        .family = family,
    };
    bpf_loop(TRK_MIRROR_MAX_PATTERNS, scan_pattern, &scan, 0);
    return scan.best;
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

#define AUTH_PASS (-1000) /* a datagram too long to verify here: up to userspace */

/* Who tagged the datagram (PeerTable::authenticate with a tag): the peer's index,
 * -(refusal + 1), or AUTH_PASS. */
static __always_inline int authenticate(struct xdp_md *ctx, const struct trk_mirror_config *config,
                                        const struct patterns *patterns, struct scratch *scratch,
                                        const struct flow *flow, const struct auth *auth,
                                        __u8 flags, __u8 family, const __u8 *destination,
                                        __u16 dport, __u32 header_len)
{
    __u32 id = auth->key_id;
    struct trk_mirror_key *key = bpf_map_lookup_elem(&trk_mirror_keys, &id);
    if (!key || key->peer == 0)
        return -(TRK_REJECT_UNKNOWN_KEY + 1);
    int peer = key->peer - 1;
    if (!(key->flags & TRK_KEY_ANY_ADDRESS)) {
        /* Only from one of the key's peer's own addresses. */
        if (by_address(patterns, config->patterns, flow->family, flow->src, flow->sport,
                       peer) < 0)
            return -(TRK_REJECT_UNKNOWN_KEY + 1);
    }
    /* The tag's input: key id, timestamp, header flags, destination port, family, address,
     * datagram. */
    __u8 *m = scratch->message;
    m[0] = auth->key_id;
    m[1] = auth->timestamp >> 24;
    m[2] = auth->timestamp >> 16;
    m[3] = auth->timestamp >> 8;
    m[4] = auth->timestamp;
    m[5] = flags;
    __builtin_memcpy(m + 6, &dport, 2);
    m[8] = family;
    __u32 prefix;
    if (family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(m + 9, destination, 4);
        prefix = 13;
    } else {
        __builtin_memcpy(m + 9, destination, 16);
        prefix = 25;
    }
    __u32 inner = flow->datagram_len - header_len;
    if (inner > TRK_MIRROR_MAX_DATAGRAM)
        return AUTH_PASS;
    if (inner) {
        __u32 at = payload_offset(flow->family) + header_len;
        __u32 n = ((inner - 1) & 2047) + 1;
        if (n > TRK_MIRROR_MAX_DATAGRAM)
            return AUTH_PASS;
        int bad = prefix == 13 ? bpf_xdp_load_bytes(ctx, at, m + 13, n)
                               : bpf_xdp_load_bytes(ctx, at, m + 25, n);
        if (bad)
            return -(TRK_REJECT_BAD_TAG + 1);
    }
    if (siphash24(key->k0, key->k1, m, prefix + inner) != auth->tag)
        return -(TRK_REJECT_BAD_TAG + 1);
    __u64 now = config->clock_secs + (bpf_ktime_get_ns() - config->clock_ktime) / 1000000000ULL;
    if (!fresh(auth->timestamp, now, config->max_skew_secs))
        return -(TRK_REJECT_STALE_TAG + 1);
    return peer;
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
    if (header_len > TRK_MIRROR_MAX_HEADER) {
        *received = 0;
        return pass(TRK_MPASS_OPTIONS);
    }
    struct auth auth = {};
    if (header_len > minimum) {
        __u32 options_len = header_len - minimum;
        if (bpf_xdp_load_bytes(ctx, payload_offset(flow->family) + minimum, scratch->options,
                               bound64(options_len)))
            return XDP_PASS;
        int found = find_auth(scratch->options, options_len, &auth);
        if (found == 1)
            return reject(TRK_REJECT_MALFORMED);
        if (found == 2) {
            *received = 0;
            return pass(TRK_MPASS_OPTIONS);
        }
    }
    if (ipv4_mapped(family, destination)) {
        *received = 0;
        return pass(TRK_MPASS_FAMILY);
    }
    __u8 flags = h[4];

    int peer;
    if (auth.found) {
        peer = authenticate(ctx, config, patterns, scratch, flow, &auth, flags, family,
                            destination, dport, header_len);
        if (peer == AUTH_PASS) {
            *received = 0;
            return pass(TRK_MPASS_OPTIONS);
        }
        if (peer < 0)
            return reject(-peer - 1);
    } else {
        peer = by_address(patterns, config->patterns, flow->family, flow->src, flow->sport,
                          ANY_PEER);
        if (peer < 0)
            return reject(TRK_REJECT_UNKNOWN_SOURCE);
    }
    __u32 peer_index = peer;
    struct trk_mirror_peer *info = bpf_map_lookup_elem(&trk_mirror_peers, &peer_index);
    if (!info)
        return reject(TRK_REJECT_UNKNOWN_SOURCE);
    if (!auth.found && (info->flags & TRK_PEER_HAS_KEYS))
        return reject(TRK_REJECT_MISSING_TAG);
    /* Reach (PeerTable::may_reach): any; or, for a server-side peer, any peer's address; for a
     * client-side peer, a server-side peer's address only. */
    int reach = (info->flags & TRK_PEER_SERVER) ? ANY_PEER : SERVER_SIDE;
    if (!forwardable(family, destination, dport) ||
        (!(info->flags & TRK_PEER_REACH_ANY) &&
         by_address(patterns, config->patterns, family, destination, dport, reach) < 0))
        return reject(TRK_REJECT_DESTINATION_NOT_ALLOWED);
    if (is_local(family, destination, dport))
        return reject(TRK_REJECT_LOOP);
    __u32 emulated = (info->flags & TRK_PEER_SERVER) ? TRK_MIRROR_WAN_TO_CLIENT
                                                      : TRK_MIRROR_WAN_TO_SERVER;
    if ((config->flags & emulated) || family != flow->family) {
        *received = 0;
        return pass((config->flags & emulated) ? TRK_MPASS_WAN : TRK_MPASS_FAMILY);
    }

    /* Only servers may ask a replica to answer directly (it would take the answers off the
     * mirror's path). */
    if (!(info->flags & TRK_PEER_SERVER))
        flags &= ~TRK_FLAG_DIRECT_RETURN;
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
