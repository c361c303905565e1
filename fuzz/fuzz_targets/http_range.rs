//! The HTTP baseline's `Range` header on arbitrary text and file lengths. Claim: no panic, and
//! a satisfiable range lies within the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_server::http_range::{answer, RangeAnswer};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (length, header) = data.split_at(8);
    let length = u64::from_le_bytes(length.try_into().unwrap()) >> (length[0] % 64);
    let header = String::from_utf8_lossy(header);
    match answer(Some(&header), length) {
        RangeAnswer::Partial { start, last } => assert!(start <= last && last < length),
        _ => {}
    }
});
