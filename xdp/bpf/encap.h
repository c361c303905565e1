// SPDX-License-Identifier: MIT OR Apache-2.0
/* The encapsulation header (trickles-netfn encap.rs) as the program reads and writes it:
 * parse_header checks what EncapPacket::new_checked checks, encap_header writes what
 * EncapRepr::emit_via writes. */
#ifndef TRICKLES_ENCAP_H
#define TRICKLES_ENCAP_H

/* Writes the VIA option naming `family` `addr`:`port` at `at`; returns its length. */
static __always_inline __u32 put_via(__u8 *at, __u8 family, const __u8 *addr, __u16 port)
{
    at[0] = TRK_OPTION_VIA;
    __builtin_memcpy(at + 2, &port, 2);
    if (family == TRK_FAMILY_IPV4) {
        at[1] = 6;
        __builtin_memcpy(at + 4, addr, 4);
        return 8;
    }
    at[1] = 18;
    __builtin_memcpy(at + 4, addr, 16);
    return 20;
}

/* The encapsulation header naming `peer` with `flags`, and a VIA option when `via_family` is
 * not 0: what EncapRepr::emit_via writes. */
static __always_inline void encap_header(struct block *b, __u8 family, const __u8 *addr,
                                         __u16 port, __u8 flags, __u8 via_family,
                                         const __u8 *via_addr, __u16 via_port)
{
    b->bytes[0] = TRK_ENCAP_MAGIC_0;
    b->bytes[1] = TRK_ENCAP_MAGIC_1;
    b->bytes[2] = TRK_ENCAP_VERSION;
    b->bytes[3] = family;
    b->bytes[4] = flags;
    __builtin_memcpy(b->bytes + 6, &port, 2);
    __u32 len;
    if (family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(b->bytes + 8, addr, 4);
        len = TRK_ENCAP_LEN_V4;
        if (via_family)
            len += put_via(b->bytes + TRK_ENCAP_LEN_V4, via_family, via_addr, via_port);
    } else {
        __builtin_memcpy(b->bytes + 8, addr, 16);
        len = TRK_ENCAP_LEN_V6;
        if (via_family)
            len += put_via(b->bytes + TRK_ENCAP_LEN_V6, via_family, via_addr, via_port);
    }
    b->bytes[5] = len;
    b->len = len;
}

/* The fixed part of an encapsulation header at `h` (the start of the payload): checks as
 * EncapPacket::new_checked; fills `peer`, `peer_port`, `family` and `header_len`. Returns 0,
 * or 1 for a malformed header. */
static __always_inline int parse_header(struct xdp_md *ctx, struct flow *flow, __u8 *h,
                                        __u8 *family, __u8 *peer, __u16 *peer_port,
                                        __u32 *header_len)
{
    void *end = (void *)(long)ctx->data_end;
    if (flow->datagram_len < TRK_ENCAP_LEN_V4 || (void *)(h + TRK_ENCAP_LEN_V4) > end)
        return 1;
    if (h[2] != TRK_ENCAP_VERSION)
        return 1;
    __u32 minimum;
    if (h[3] == TRK_FAMILY_IPV4)
        minimum = TRK_ENCAP_LEN_V4;
    else if (h[3] == TRK_FAMILY_IPV6)
        minimum = TRK_ENCAP_LEN_V6;
    else
        return 1;
    __u32 len = h[5];
    if (len < minimum || flow->datagram_len < len)
        return 1;
    *family = h[3];
    *header_len = len;
    *peer_port = *(__u16 *)(h + 6);
    if (*family == TRK_FAMILY_IPV4) {
        __builtin_memcpy(peer, h + 8, 4);
    } else {
        if ((void *)(h + TRK_ENCAP_LEN_V6) > end)
            return 1;
        __builtin_memcpy(peer, h + 8, 16);
    }
    return 0;
}

#endif
