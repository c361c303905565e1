//! [`ClientNode`]: a Trickles [`ClientConnection`] as a simulated node.
//!
//! After every datagram and every timeout the adapter reads all in-order bytes the connection
//! has (an application that keeps up, so flow control never stalls it), appends them to
//! [`ClientNode::data`], records when the stream grew, and sends whatever the connection wants
//! sent. It also remembers which addresses answered, to show that replies came from replicas.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::node::Node;
use crate::client::{ClientConnection, ClientStatus};
use crate::time::Instant;
use crate::Transmit;

/// Size of the buffer the adapter reads through.
const READ_CHUNK: usize = 64 * 1024;

/// Upper bound on datagrams drained from the connection per call (guards a looping client).
const MAX_TRANSMITS_PER_CALL: usize = 10_000;

/// The stream reached `bytes` in-order bytes at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// When the bytes were read.
    pub at: Instant,
    /// Bytes read in total at that time.
    pub bytes: u64,
}

/// A client connection driven by the simulator.
pub struct ClientNode {
    connection: ClientConnection,
    data: Vec<u8>,
    progress: Vec<Progress>,
    finished_at: Option<Instant>,
    answered_by: BTreeSet<SocketAddr>,
    sent: u64,
    transmit_cap_hits: u64,
    read_buffer: Vec<u8>,
}

impl ClientNode {
    /// Drive `connection` (its first datagrams are sent when the node starts).
    pub fn new(connection: ClientConnection) -> Self {
        Self {
            connection,
            data: Vec::new(),
            progress: Vec::new(),
            finished_at: None,
            answered_by: BTreeSet::new(),
            sent: 0,
            transmit_cap_hits: 0,
            read_buffer: vec![0; READ_CHUNK],
        }
    }

    /// The wrapped connection.
    pub fn connection(&self) -> &ClientConnection {
        &self.connection
    }

    /// Every stream byte read so far, in order.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// When the stream grew, one entry per read that returned data.
    pub fn progress(&self) -> &[Progress] {
        &self.progress
    }

    /// When the connection reached `Done` or `Failed`.
    pub fn finished_at(&self) -> Option<Instant> {
        self.finished_at
    }

    /// Whether the connection is `Done` or `Failed`.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.connection.status(),
            ClientStatus::Done | ClientStatus::Failed(_)
        )
    }

    /// Addresses that sent datagrams to this client.
    pub fn answered_by(&self) -> &BTreeSet<SocketAddr> {
        &self.answered_by
    }

    /// Datagrams sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Times a single call produced more than the per-call bound of datagrams (a client bug).
    pub fn transmit_cap_hits(&self) -> u64 {
        self.transmit_cap_hits
    }

    /// Read what arrived, note progress and completion, and collect datagrams to send.
    fn after_input(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        let before = self.data.len();
        loop {
            let n = self.connection.read(&mut self.read_buffer);
            if n == 0 {
                break;
            }
            self.data
                .extend_from_slice(&self.read_buffer[..n.min(self.read_buffer.len())]);
        }
        if self.data.len() > before {
            self.progress.push(Progress {
                at: now,
                bytes: self.data.len() as u64,
            });
        }
        let mut drained = 0;
        while let Some(transmit) = self.connection.poll_transmit(now) {
            out.push(transmit);
            self.sent += 1;
            drained += 1;
            if drained >= MAX_TRANSMITS_PER_CALL {
                self.transmit_cap_hits += 1;
                break;
            }
        }
        if self.finished_at.is_none() && self.is_finished() {
            self.finished_at = Some(now);
        }
    }
}

impl Node for ClientNode {
    fn on_start(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        self.after_input(now, out);
    }

    fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
        out: &mut Vec<Transmit>,
    ) {
        self.answered_by.insert(from);
        self.connection.handle_datagram(now, from, payload);
        self.after_input(now, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.connection.poll_timeout()
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        self.connection.handle_timeout(now);
        self.after_input(now, out);
    }
}
