//! The mirror's whole decision on arbitrary datagrams from a configured client, a tagged
//! roaming client and a stranger: the shim header, the auth option, the peer rules, the guard
//! and the emulated path. Claim: no panic, and the mirror never emits more bytes for a source
//! than it received from it.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use trickles_link::time::Instant;
use trickles_mirror::auth::{AuthKey, Peer, PeerTable, Reach, Side};
use trickles_mirror::{Mirror, MirrorRules};

fn peer(name: &str, pattern: &str, keys: Vec<AuthKey>, side: Side, reach: Reach) -> Peer {
    Peer {
        name: name.into(),
        addresses: if pattern.is_empty() { vec![] } else { vec![pattern.parse().unwrap()] },
        keys,
        side,
        reach,
    }
}

fuzz_target!(|data: &[u8]| {
    let peers = PeerTable::new(vec![
        peer("client", "127.0.0.1:40000", vec![], Side::Client, Reach::Peers),
        peer("server", "127.0.0.1:4433", vec![], Side::Server, Reach::Any),
        peer("laptop", "", vec![AuthKey::new(1, [0x42; 16])], Side::Client, Reach::Peers),
    ])
    .unwrap();
    let mut rules = MirrorRules::new(peers);
    // A small source table: built anew per input, so each input starts with no credit.
    rules.guard.slots = 16;
    let mut mirror = Mirror::new(Arc::new(rules), vec!["127.0.0.1:7000".parse().unwrap()], 7);
    let mut received = 0usize;
    for from in ["127.0.0.1:40000", "127.0.0.1:4433", "203.0.113.9:1", "[::1]:5"] {
        received += data.len();
        let _ = mirror.on_datagram(Instant(0), 1_700_000_000, from.parse().unwrap(), data);
    }
    let mut out = Vec::new();
    mirror.release_due(Instant(u64::MAX), &mut out);
    let emitted: usize = out.iter().map(|r| r.datagram.len()).sum();
    assert!(emitted <= received, "{emitted} emitted for {received} received");
});
