//! The yardstick: our real client ([`ClientConnection`]) on the same stage as the attackers, its
//! receive window the same as theirs.

use trickles::client::{ClientConfig, ClientConnection};
use trickles::time::Instant;

use super::harness::{replica_addr, Peer, OBJECT, RECEIVE_WINDOW};

/// An honest client reading everything at once.
pub struct Honest {
    connection: Option<ClientConnection>,
    buffer: Vec<u8>,
}

impl Honest {
    pub fn new() -> Self {
        Honest {
            connection: None,
            buffer: vec![0; 1 << 20],
        }
    }

    fn drain(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        let c = self.connection.as_mut().unwrap();
        while c.read(&mut self.buffer) > 0 {}
        while let Some(t) = c.poll_transmit(now) {
            out.push((0, t.payload));
        }
    }
}

impl Peer for Honest {
    fn start(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        let config = ClientConfig {
            receive_window: RECEIVE_WINDOW as usize,
            ..ClientConfig::default()
        };
        self.connection = Some(ClientConnection::new(
            now,
            replica_addr(0),
            OBJECT.to_vec(),
            config,
            99,
        ));
        self.drain(now, out);
    }

    fn on_datagram(&mut self, now: Instant, datagram: &[u8], out: &mut Vec<(usize, Vec<u8>)>) {
        let c = self.connection.as_mut().unwrap();
        c.handle_datagram(now, replica_addr(0), datagram);
        self.drain(now, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.connection.as_ref().and_then(|c| c.poll_timeout())
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<(usize, Vec<u8>)>) {
        self.connection.as_mut().unwrap().handle_timeout(now);
        self.drain(now, out);
    }
}
