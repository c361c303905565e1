// SPDX-License-Identifier: MIT OR Apache-2.0
/* Tags (trickles-netfn mirror_auth): the auth option found among a header's options as
 * AuthOption::find finds it, and its tag checked as AuthKey::verify computes it — SipHash-2-4,
 * keyed by the peer's secret, over key id ‖ timestamp ‖ destination port ‖ family ‖
 * destination address ‖ the carried datagram, copied whole into the per-CPU scratch space. */
#ifndef TRICKLES_MIRROR_TAG_H
#define TRICKLES_MIRROR_TAG_H

/* What the options hold. */
struct auth {
    int found;
    __u8 key_id;
    __u32 timestamp;
    __u64 tag;
};

/* Walks the options (`options`, `len` bytes, at most 64): 0 when well formed, with the first
 * auth option in `auth`; 1 when malformed; 2 when there are more than 16 options. */
static __always_inline int find_auth(const __u8 *options, __u32 len, struct auth *auth)
{
    __u32 off = 0;
    for (int i = 0; i < 16; i++) {
        if (off >= len)
            return 0;
        if (off + 2 > len)
            return 1;
        __u8 kind = options[off & 63];
        __u32 value_len = options[(off + 1) & 63];
        if (off + 2 + value_len > len)
            return 1;
        if (kind == TRK_OPTION_MIRROR_AUTH && !auth->found) {
            if (value_len != TRK_AUTH_VALUE_LEN)
                return 1;
            const __u32 v = off + 2;
            auth->found = 1;
            auth->key_id = options[v & 63];
            __u32 ts = 0;
            __u64 tag = 0;
#pragma unroll
            for (int k = 0; k < 4; k++)
                ts = (ts << 8) | options[(v + 1 + k) & 63];
#pragma unroll
            for (int k = 0; k < 8; k++)
                tag = (tag << 8) | options[(v + 5 + k) & 63];
            auth->timestamp = ts;
            auth->tag = tag;
        }
        off += 2 + value_len;
    }
    return off >= len ? 0 : 2;
}

#define SIPROUND24                                                                             \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)

/* SipHash-2-4's state while it compresses the message, word by word in a bpf_loop callback
 * (verified once, not once per word). */
struct sip {
    __u64 v0, v1, v2, v3;
    const __u8 *m;
    __u32 words;
};

static long sip_word(__u32 w, void *context)
{
    struct sip *s = context;
    if (w >= s->words)
        return 1;
    __u64 at = w * 8;
    /* An opaque mask: the buffer has room for it, the verifier needs it. */
    asm volatile("%0 &= 2047" : "+r"(at));
    __u64 word;
    __builtin_memcpy(&word, s->m + at, 8);
    __u64 v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
    v3 ^= word;
    SIPROUND24;
    SIPROUND24;
    v0 ^= word;
    s->v0 = v0;
    s->v1 = v1;
    s->v2 = v2;
    s->v3 = v3;
    return 0;
}

/* SipHash-2-4 of the first `len` bytes of `m` (a buffer of at least 2056 bytes). */
static __always_inline __u64 siphash24(__u64 k0, __u64 k1, const __u8 *m, __u32 len)
{
    struct sip s = {
        .v0 = k0 ^ 0x736f6d6570736575ULL,
        .v1 = k1 ^ 0x646f72616e646f6dULL,
        .v2 = k0 ^ 0x6c7967656e657261ULL,
        .v3 = k1 ^ 0x7465646279746573ULL,
        .m = m,
        .words = len / 8,
    };
    bpf_loop((TRK_MIRROR_MAX_DATAGRAM + 24) / 8, sip_word, &s, 0);
    __u64 v0 = s.v0, v1 = s.v1, v2 = s.v2, v3 = s.v3;
    __u64 b = ((__u64)len) << 56;
    __u32 tail = len & 7;
    __u64 at = (len / 8) * 8;
    asm volatile("%0 &= 2047" : "+r"(at));
#pragma unroll
    for (int k = 0; k < 7; k++)
        if ((__u32)k < tail)
            b |= ((__u64)m[at + k]) << (8 * k);
    v3 ^= b;
    SIPROUND24;
    SIPROUND24;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND24;
    SIPROUND24;
    SIPROUND24;
    SIPROUND24;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Whether a 32-bit timestamp is within `skew` seconds of `now` either side, modulo 2^32
 * (timestamp_fresh). */
static __always_inline int fresh(__u32 timestamp, __u64 now, __u64 skew)
{
    __u32 n = (__u32)now;
    __u32 a = n - timestamp, b = timestamp - n;
    return (a < b ? a : b) <= skew;
}

#endif
