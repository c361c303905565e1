//! The encapsulation header's constants for the XDP programs (`xdp/bpf/encap_abi.h`, where the
//! C side reads them), equal to `trickles-netfn`'s `encap` (checked by the tests below).

/// First magic byte of the encapsulation header.
pub const ENCAP_MAGIC_0: u8 = 0xEC;
/// Second magic byte.
pub const ENCAP_MAGIC_1: u8 = 0x54;
/// Encapsulation header version.
pub const ENCAP_VERSION: u8 = 1;
/// `family` of an IPv4 peer.
pub const FAMILY_IPV4: u8 = 4;
/// `family` of an IPv6 peer.
pub const FAMILY_IPV6: u8 = 6;
/// The header's direct-return flag.
pub const FLAG_DIRECT_RETURN: u8 = 0x01;
/// Header length with an IPv4 peer.
pub const ENCAP_LEN_V4: u32 = 12;
/// Header length with an IPv6 peer.
pub const ENCAP_LEN_V6: u32 = 24;
/// Longest header the programs read or write (an IPv6 peer and an IPv6 VIA option).
pub const ENCAP_MAX_LEN: u32 = 44;
/// The VIA option's type.
pub const OPTION_VIA: u8 = 0x56;

/// Every `#define TRK_*` of `encap_abi.h` with its value here.
pub const DEFINES: &[(&str, u64)] = &[
    ("ENCAP_MAGIC_0", ENCAP_MAGIC_0 as u64),
    ("ENCAP_MAGIC_1", ENCAP_MAGIC_1 as u64),
    ("ENCAP_VERSION", ENCAP_VERSION as u64),
    ("FAMILY_IPV4", FAMILY_IPV4 as u64),
    ("FAMILY_IPV6", FAMILY_IPV6 as u64),
    ("FLAG_DIRECT_RETURN", FLAG_DIRECT_RETURN as u64),
    ("ENCAP_LEN_V4", ENCAP_LEN_V4 as u64),
    ("ENCAP_LEN_V6", ENCAP_LEN_V6 as u64),
    ("ENCAP_MAX_LEN", ENCAP_MAX_LEN as u64),
    ("OPTION_VIA", OPTION_VIA as u64),
];

/// The header, as the programs include it.
pub const HEADER: &str = include_str!("../bpf/encap_abi.h");

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_netfn::encap;

    #[test]
    fn the_c_header_and_the_rust_constants_agree() {
        let problems = crate::header::disagreements(HEADER, DEFINES);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_encapsulation_constants_are_netfns() {
        assert_eq!([ENCAP_MAGIC_0, ENCAP_MAGIC_1], encap::MAGIC);
        assert_eq!(ENCAP_VERSION, encap::VERSION);
        assert_eq!(FAMILY_IPV4, encap::FAMILY_IPV4);
        assert_eq!(FAMILY_IPV6, encap::FAMILY_IPV6);
        assert_eq!(FLAG_DIRECT_RETURN, encap::FLAG_DIRECT_RETURN);
        assert_eq!(ENCAP_LEN_V4 as usize, encap::HEADER_LEN_V4);
        assert_eq!(ENCAP_LEN_V6 as usize, encap::HEADER_LEN_V6);
        assert_eq!(ENCAP_MAX_LEN as usize, encap::MAX_HEADER_LEN);
        assert_eq!(OPTION_VIA, encap::OPTION_VIA);
    }
}
