// SPDX-License-Identifier: MIT OR Apache-2.0
/* One's-complement sums: the incremental UDP checksum (RFC 1624) of a rewritten frame and the
 * IPv4 header checksum. */
#ifndef TRICKLES_CHECKSUM_H
#define TRICKLES_CHECKSUM_H

static __always_inline __u32 fold(__u32 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

/* The words of the UDP checksum that change: pseudo-header addresses, ports, and the UDP
 * length (counted twice: pseudo-header and UDP header). */
struct csum_words_v4 {
    __u8 src[4];
    __u8 dst[4];
    __u16 sport;
    __u16 dport;
    __u16 len1;
    __u16 len2;
};

struct csum_words_v6 {
    __u8 src[16];
    __u8 dst[16];
    __u16 sport;
    __u16 dport;
    __u16 len1;
    __u16 len2;
};

/* One's-complement sum helpers, on memory as it lies (the sum does not depend on byte order
 * as long as the result is stored the same way). `n` 16-bit words, a constant. */
static __always_inline __u32 add_words(__u32 acc, const void *p, const int n, int negate)
{
    const __u16 *w = p;
#pragma unroll
    for (int i = 0; i < n; i++)
        acc += negate ? (__u16)~w[i] : w[i];
    return acc;
}

/* The same over a buffer of 64 bytes of which the first `len` count, starting at an even
 * offset of the datagram (an odd last byte is the low half of its word in memory order). */
static __always_inline __u32 add_block(__u32 acc, const __u8 *b, __u32 len, int negate)
{
    const __u16 *w = (const __u16 *)b;
#pragma unroll
    for (int i = 0; i < 32; i++) {
        __u16 word = 0;
        if ((__u32)(2 * i + 1) < len)
            word = w[i];
        else if ((__u32)(2 * i) < len)
            word = b[2 * i];
        else
            continue;
        acc += negate ? (__u16)~word : word;
    }
    return acc;
}

/* The pseudo-header's constant word (zero, protocol 17), as it lies in memory. */
static __always_inline __u16 udp_protocol_word(void)
{
    __u8 bytes[2] = {0, IPPROTO_UDP};
    __u16 word;
    __builtin_memcpy(&word, bytes, 2);
    return word;
}

/* The new UDP checksum (RFC 1624: HC' = ~(~HC + ~m + m')) after the words `old` become `new`
 * (`words` 16-bit words), `rlen` bytes (`removed`) are stripped from the start of the payload
 * and `alen` bytes (`added`) put there instead. When one length is odd and the other even,
 * the rest of the datagram moves to the other byte of its words: its sum, read off the old
 * checksum (everything else in it is known), is byte-swapped (RFC 1071 §2(B)) instead of read
 * again. Summed inline: two bpf_csum_diff calls cost as much as the rest of the program. An
 * IPv4 datagram without a checksum keeps none. */
static __always_inline __u16 udp_checksum(__u16 check, int v4, const void *old, const void *new,
                                          const int words, const __u8 *removed, __u32 rlen,
                                          const __u8 *added, __u32 alen)
{
    if (v4 && check == 0)
        return 0;
    __u32 sum = (__u16)~check;
    sum = add_words(sum, old, words, 1);
    sum = add_block(sum, removed, rlen, 1);
    if ((rlen ^ alen) & 1) {
        /* `sum` is now the rest's sum plus the protocol word: keep the rest, swapped. */
        sum += (__u16)~udp_protocol_word();
        __u16 rest = fold(sum) & 0xffff;
        sum = (__u16)((rest << 8) | (rest >> 8));
        sum += udp_protocol_word();
    }
    sum = add_words(sum, new, words, 0);
    sum = add_block(sum, added, alen, 0);
    __u16 result = ~fold(sum) & 0xffff;
    return result ? result : 0xffff;
}

static __always_inline __u16 ipv4_header_checksum(struct iphdr *ip)
{
    __u16 *words = (__u16 *)ip;
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < 10; i++)
        sum += words[i];
    return ~fold(sum) & 0xffff;
}

#endif
