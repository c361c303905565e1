// SPDX-License-Identifier: MIT OR Apache-2.0
/* The source guard of the XDP mirror (mirror/src/guard/source_guard.rs, token_bucket.rs): a
 * slot per keyed hash of the source IP, packet and byte buckets in millionths of a token, the
 * credit that keeps the mirror from sending more on a source's behalf than it received. */
#ifndef TRICKLES_MIRROR_GUARD_H
#define TRICKLES_MIRROR_GUARD_H

#define ROTL(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)

static __always_inline __u64 le64(const __u8 *p)
{
    __u64 v = 0;
#pragma unroll
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* SipHash-1-3 of the source address (4 or 16 bytes), as SourceGuard::slot_of hashes it. */
static __always_inline __u64 siphash13(const __u64 *key, const __u8 *m, __u32 len)
{
    __u64 v0 = key[0] ^ 0x736f6d6570736575ULL, v1 = key[1] ^ 0x646f72616e646f6dULL;
    __u64 v2 = key[0] ^ 0x6c7967656e657261ULL, v3 = key[1] ^ 0x7465646279746573ULL;
    __u64 b = ((__u64)len) << 56;
    if (len == 16) {
#pragma unroll
        for (int w = 0; w < 2; w++) {
            __u64 m64 = le64(m + 8 * w);
            v3 ^= m64;
            SIPROUND;
            v0 ^= m64;
        }
    } else {
        b |= (__u64)m[0] | ((__u64)m[1] << 8) | ((__u64)m[2] << 16) | ((__u64)m[3] << 24);
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Refill `tokens` (millionths) for `elapsed` µs at `rate` per second up to `burst`, then take
 * `cost` tokens if there are that many (TokenBucket::take). */
static __always_inline int take(__u64 *tokens, __u64 elapsed, __u64 rate, __u64 burst,
                                __u64 cost)
{
    __u64 cap = burst * MICROS_PER_TOKEN;
    if (rate && elapsed > (cap - *tokens) / rate)
        *tokens = cap;
    else
        *tokens += elapsed * rate;
    if (*tokens > cap)
        *tokens = cap;
    cost *= MICROS_PER_TOKEN;
    if (*tokens < cost)
        return 0;
    *tokens -= cost;
    return 1;
}

/* Charges a datagram of `in_len` bytes from the flow's source and spends `out_len` of its
 * credit for the datagram about to be emitted; -1 when admitted, else the refusal. */
static __always_inline int guard(const struct trk_mirror_config *config, const struct flow *flow,
                                 __u32 in_len, __u32 out_len)
{
    __u32 len = flow->family == TRK_FAMILY_IPV4 ? 4 : 16;
    __u32 slot = (__u32)siphash13(config->hash_key, flow->src, len) & config->slot_mask;
    struct guard_slot *s = bpf_map_lookup_elem(&trk_guard, &slot);
    if (!s)
        return TRK_REJECT_RATE_LIMITED;
    __u64 now = bpf_ktime_get_ns() / 1000;
    int refusal = -1;
    bpf_spin_lock(&s->lock);
    int same = s->family == flow->family;
#pragma unroll
    for (int i = 0; i < 16; i++)
        same = same && s->addr[i] == flow->src[i];
    if (!same) {
        s->family = flow->family;
#pragma unroll
        for (int i = 0; i < 16; i++)
            s->addr[i] = flow->src[i];
        s->packets = config->packets_burst * MICROS_PER_TOKEN;
        s->bytes = config->bytes_burst * MICROS_PER_TOKEN;
        s->packets_last = now;
        s->bytes_last = now;
        s->credit = 0;
    }
    if (config->flags & TRK_MIRROR_PACKET_LIMIT) {
        __u64 elapsed = now > s->packets_last ? now - s->packets_last : 0;
        if (now > s->packets_last)
            s->packets_last = now;
        if (!take(&s->packets, elapsed, config->packets_per_second, config->packets_burst, 1))
            refusal = TRK_REJECT_RATE_LIMITED;
    }
    if (refusal < 0 && (config->flags & TRK_MIRROR_BYTE_LIMIT)) {
        __u64 elapsed = now > s->bytes_last ? now - s->bytes_last : 0;
        if (now > s->bytes_last)
            s->bytes_last = now;
        if (!take(&s->bytes, elapsed, config->bytes_per_second, config->bytes_burst, in_len))
            refusal = TRK_REJECT_RATE_LIMITED;
    }
    if (refusal < 0) {
        __u64 cap = config->credit_cap > in_len ? config->credit_cap : in_len;
        s->credit = s->credit + in_len > cap ? cap : s->credit + in_len;
        if (s->credit < out_len)
            refusal = TRK_REJECT_AMPLIFICATION;
        else
            s->credit -= out_len;
    }
    bpf_spin_unlock(&s->lock);
    return refusal;
}

#endif
