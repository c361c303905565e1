// SPDX-License-Identifier: MIT OR Apache-2.0
/* Carrying out a rewrite plan: the next hop (FIB or gateway MAC), the new addresses, ports,
 * lengths and checksums, the old header replaced by the new one; then XDP_TX or XDP_REDIRECT
 * (NO_NEXT_HOP: nothing was changed, the caller passes the frame up). The source becomes the
 * frame's destination (the network function's own address). */
#ifndef TRICKLES_REWRITE_H
#define TRICKLES_REWRITE_H

#define NO_NEXT_HOP (-1)

/* How frames leave: the kernel's FIB, or (gateway mode) all to one MAC by XDP_TX. */
struct next_hop_config {
    __u32 gateway;
    __u8 gateway_mac[6];
};

/* Where a rewritten frame goes: fills the MACs of `eth` and returns the XDP action, or -1 when
 * the kernel has no next hop (the frame goes up unchanged). */
static __always_inline int next_hop(struct xdp_md *ctx, const struct next_hop_config *config,
                                    __u8 family, const __u8 *src, const __u8 *dst,
                                    __u16 sport, __u16 dport, __u16 ip_len, __u8 *smac,
                                    __u8 *dmac, __u32 *ifindex)
{
    if (config->gateway) {
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
        return bpf_xdp_load_bytes(ctx, at, out, bound64(len)) ? -1 : 0;
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
        return bpf_xdp_store_bytes(ctx, at, added->bytes, bound64(added->len)) ? -1 : 0;
    return 0;
}

/* Rewrite a frame: addresses and ports to `new_src`:`new_sport` → `new_dst`:`new_dport`, the
 * first `removed` bytes of the payload replaced by `added`, counted for `counter` with
 * `counted_bytes`. The IPv4 and IPv6 versions differ only in the IP header. */
static __always_inline int rewrite_v4(struct xdp_md *ctx, const struct next_hop_config *config,
                                      struct flow *flow, struct rewrite_plan *plan)
{
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
        return NO_NEXT_HOP;

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
    __u8 *old_header = plan->old_header;
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
    return finish(action, ifindex);
}

static __always_inline int rewrite_v6(struct xdp_md *ctx, const struct next_hop_config *config,
                                      struct flow *flow, struct rewrite_plan *plan)
{
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
        return NO_NEXT_HOP;

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
    __u8 *old_header = plan->old_header;
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
    return finish(action, ifindex);
}

static __always_inline int rewrite(struct xdp_md *ctx, const struct next_hop_config *config,
                                   struct flow *flow, struct rewrite_plan *plan)
{
    if (flow->family == TRK_FAMILY_IPV4)
        return rewrite_v4(ctx, config, flow, plan);
    return rewrite_v6(ctx, config, flow, plan);
}

#endif
