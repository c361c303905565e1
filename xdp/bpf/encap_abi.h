/* The encapsulation header's constants (trickles-netfn encap.rs, docs/NETWORK-FUNCTIONS.md
 * §2), for the XDP programs of every network function. The test
 * `the_encapsulation_constants_are_netfns` of trickles-xdp reads the #defines below and
 * compares each with trickles-netfn's. */
#ifndef TRICKLES_ENCAP_ABI_H
#define TRICKLES_ENCAP_ABI_H

#define TRK_ENCAP_MAGIC_0 0xEC
#define TRK_ENCAP_MAGIC_1 0x54
#define TRK_ENCAP_VERSION 1
#define TRK_FAMILY_IPV4 4
#define TRK_FAMILY_IPV6 6
#define TRK_FLAG_DIRECT_RETURN 0x01
#define TRK_ENCAP_LEN_V4 12
#define TRK_ENCAP_LEN_V6 24
#define TRK_ENCAP_MAX_LEN 44 /* an IPv6 peer and an IPv6 VIA option */
#define TRK_OPTION_VIA 0x56

#endif
