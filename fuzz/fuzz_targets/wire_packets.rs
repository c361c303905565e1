//! Every Trickles packet parser on arbitrary bytes: the common header, then the body of its
//! type, and the sealed continuation wherever one can start. Claim: no panic, and whatever
//! parses re-emits within the datagram's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles::wire::continuation::SealedContinuation;
use trickles::wire::{Header, HelloRepr, PacketType, RefuseRepr, RequestRepr, ResponseRepr};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, body)) = Header::parse(data) {
        match header.packet_type {
            PacketType::Hello => {
                let _ = HelloRepr::parse(&header, body);
            }
            PacketType::Request => {
                if let Ok(request) = RequestRepr::parse(&header, body) {
                    for block in request.sacks.clone() {
                        assert!(block.left <= block.right);
                    }
                }
            }
            PacketType::Response => {
                let _ = ResponseRepr::parse(&header, body);
            }
            PacketType::Refuse => {
                let _ = RefuseRepr::parse(&header, body);
            }
        }
    }
    let _ = SealedContinuation::parse(data);
    for start in [18, 21] {
        if let Some(rest) = data.get(start..) {
            let _ = SealedContinuation::parse(rest);
        }
    }
});
