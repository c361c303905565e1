//! The encapsulation header (balancer, replica, mirror) and its options (VIA, the mirror's
//! auth tag and padding) on arbitrary bytes. Claim: no panic; a parsed header's length lies
//! within the datagram; what parses re-encodes to a header that parses to the same peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_netfn::encap::{EncapPacket, EncapRepr};
use trickles_netfn::mirror_auth::AuthOption;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = EncapPacket::new_checked(data) {
        assert!(packet.header_len() <= data.len());
        let _ = AuthOption::find(packet.options());
        let _ = packet.inner();
    }
    if let Ok((header, via, inner)) = EncapRepr::parse_with_via(data) {
        assert!(inner.len() <= data.len());
        let again = EncapRepr::new(header.peer).encapsulate(inner);
        let (reparsed, _) = EncapRepr::parse(&again).expect("a header we wrote parses");
        assert_eq!(reparsed.peer, header.peer);
        let _ = via;
    }
});
