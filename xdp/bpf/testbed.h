// SPDX-License-Identifier: MIT OR Apache-2.0
/* The programs the benchmarks and the veth testbeds attach next to the balancer's: a
 * forward-only baseline, XDP_PASS for a veth's peer, the live-frames generator and a sink. */
#ifndef TRICKLES_TESTBED_H
#define TRICKLES_TESTBED_H

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

#endif
