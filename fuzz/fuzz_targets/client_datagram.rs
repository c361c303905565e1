//! The client state machine fed arbitrary datagrams (anyone can send to its socket) between
//! timeouts. Claim: no panic, and it never buffers more than its receive window allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles::client::{ClientConfig, ClientConnection};
use trickles::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let server = "198.18.0.1:4433".parse().unwrap();
    let mut now = Instant(1_700_000_000_000_000);
    let mut client = ClientConnection::new(now, server, b"/big".to_vec(), ClientConfig::default(), 0x7472_6963_6b6c_6573);
    while client.poll_transmit(now).is_some() {}
    // Split the input into datagrams at 0xFF 0xFE markers, so one input is a conversation.
    for datagram in data.split(|&b| b == 0xFE) {
        client.handle_datagram(now, server, datagram);
        while client.poll_transmit(now).is_some() {}
        now = now + Duration::from_millis(50);
        if client.poll_timeout().is_some_and(|at| at <= now) {
            client.handle_timeout(now);
        }
        let mut buf = [0u8; 4096];
        while client.read(&mut buf) > 0 {}
    }
});
