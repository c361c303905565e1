// SPDX-License-Identifier: MIT OR Apache-2.0
/* SipHash (Aumasson and Bernstein) for the XDP programs, as the `siphasher` crate computes it:
 * the state, the compression of one little-endian 64-bit word with c rounds, the finalization
 * of the last block with d rounds. SipHash-1-3 keys the balancer's connection-id hash and the
 * mirror's guard slots; SipHash-2-4 is the mirror's tags. */
#ifndef TRICKLES_SIPHASH_H
#define TRICKLES_SIPHASH_H

struct sip {
    __u64 v0, v1, v2, v3;
};

static __always_inline __u64 sip_rotl(__u64 x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static __always_inline void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = sip_rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = sip_rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = sip_rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = sip_rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = sip_rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = sip_rotl(s->v2, 32);
}

static __always_inline void sip_init(struct sip *s, __u64 k0, __u64 k1)
{
    s->v0 = k0 ^ 0x736f6d6570736575ULL;
    s->v1 = k1 ^ 0x646f72616e646f6dULL;
    s->v2 = k0 ^ 0x6c7967656e657261ULL;
    s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* One message word, `c` compression rounds. */
static __always_inline void sip_word(struct sip *s, __u64 m, const int c)
{
    s->v3 ^= m;
#pragma unroll
    for (int i = 0; i < c; i++)
        sip_round(s);
    s->v0 ^= m;
}

/* The last block `b` (the message length in its top byte, the tail bytes below), then `d`
 * finalization rounds. */
static __always_inline __u64 sip_finish(struct sip *s, __u64 b, const int c, const int d)
{
    sip_word(s, b, c);
    s->v2 ^= 0xff;
#pragma unroll
    for (int i = 0; i < d; i++)
        sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* A little-endian 64-bit word from `p` (any alignment). */
static __always_inline __u64 sip_le64(const __u8 *p)
{
    __u64 v = 0;
#pragma unroll
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
