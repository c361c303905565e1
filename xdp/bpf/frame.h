// SPDX-License-Identifier: MIT OR Apache-2.0
/* The parsed frame (parse_frame: Ethernet, IPv4 without options and not a fragment or IPv6
 * without extension headers, UDP with consistent lengths), and the plan of its rewrite. */
#ifndef TRICKLES_FRAME_H
#define TRICKLES_FRAME_H

#define AF_INET 2
#define AF_INET6 10
#define HOP_LIMIT 64

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

/* A header to prepend: up to TRK_ENCAP_MAX_LEN bytes, `len` a multiple of 4 (0: nothing). */
struct block {
    __u8 bytes[64];
    __u32 len;
};

/* A rewrite: to `dst`:`dport`, the first `removed` bytes of the payload replaced by `added`;
 * `old_header` is where the rewrite copies the removed bytes (for the checksum). Lives in a
 * per-CPU map of the program: it does not fit the 512-byte stack. */
struct rewrite_plan {
    __u8 dst[16];
    __u16 dport;
    __u32 removed;
    struct block added;
    __u8 old_header[64];
};

/* `len` (1..64) in a form whose bounds the verifier keeps. */
static __always_inline __u32 bound64(__u32 len)
{
    return ((len - 1) & 63) + 1;
}

/* `len` (a multiple of 4, 4..64) in a form whose bounds the verifier keeps. */
static __always_inline __u32 bound4(__u32 len)
{
    return ((((len >> 2) - 1) & 15) + 1) << 2;
}

/* Offset of the UDP payload in a frame of `family` (no IP options, no extension headers). */
static __always_inline __u32 payload_offset(__u8 family)
{
    return family == TRK_FAMILY_IPV4
               ? sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr)
               : sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
}

/* Parses the frame into `flow`; returns where the UDP payload starts, or 0 for a frame the
 * network functions do not handle (not UDP, IP options, a fragment, an extension header,
 * lengths that disagree, truncated). */
static __always_inline void *parse_frame(struct xdp_md *ctx, struct flow *flow)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return 0;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP)
            return 0;
        struct udphdr *udp = (void *)(ip + 1);
        if ((void *)(udp + 1) > end)
            return 0;
        __u32 ulen = bpf_ntohs(udp->len);
        if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) ||
            bpf_ntohs(ip->tot_len) != ulen + sizeof(struct iphdr) || ulen < sizeof(*udp) ||
            (void *)udp + ulen > end)
            return 0;
        flow->family = TRK_FAMILY_IPV4;
        __builtin_memcpy(flow->src, &ip->saddr, 4);
        __builtin_memcpy(flow->dst, &ip->daddr, 4);
        flow->sport = udp->source;
        flow->dport = udp->dest;
        flow->udp_check = udp->check;
        flow->datagram_len = ulen - sizeof(*udp);
        return udp + 1;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->nexthdr != IPPROTO_UDP)
            return 0;
        struct udphdr *udp = (void *)(ip + 1);
        if ((void *)(udp + 1) > end)
            return 0;
        __u32 ulen = bpf_ntohs(udp->len);
        if (bpf_ntohs(ip->payload_len) != ulen || ulen < sizeof(*udp) || (void *)udp + ulen > end)
            return 0;
        flow->family = TRK_FAMILY_IPV6;
        __builtin_memcpy(flow->src, &ip->saddr, 16);
        __builtin_memcpy(flow->dst, &ip->daddr, 16);
        flow->sport = udp->source;
        flow->dport = udp->dest;
        flow->udp_check = udp->check;
        flow->datagram_len = ulen - sizeof(*udp);
        return udp + 1;
    }
    return 0;
}

#endif
