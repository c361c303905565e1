// SPDX-License-Identifier: MIT OR Apache-2.0
/* The parsed frame, the plan of its rewrite and the per-CPU scratch space they live in
 * (balancer.c's decision fills the plan, rewrite.h carries it out). */
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

#endif
