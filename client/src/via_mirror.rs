//! `--via MIRROR`: send every Trickles datagram through a packet mirror (`trickles-mirror`)
//! and back, as the paper did with PlanetLab mirrors (`docs/NETWORK-FUNCTIONS.md` §4).
//!
//! The driver keeps talking to the server's address; this is the thin layer between it and the
//! socket. Outgoing: each datagram for the server is wrapped for the mirror
//! ([`MirrorRoute::wrap_into`]: an encapsulation header naming the server, and a tag when a key
//! is configured) and sent to the mirror instead. Incoming: only datagrams from the mirror are
//! accepted; the header names the server (or replica) that sent the carried datagram, which is
//! what the connection is told it came from. The connection itself, and its demultiplexing by
//! connection id, do not change.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use trickles::Transmit;
use trickles_netfn::MirrorRoute;

/// Where the client's socket sends: straight to the server, or through a mirror.
#[derive(Clone, Debug, Default)]
pub struct DatagramPath {
    route: Option<MirrorRoute>,
}

impl DatagramPath {
    /// Through `route` when given, else direct.
    pub fn new(route: Option<MirrorRoute>) -> Self {
        DatagramPath { route }
    }

    /// The address the socket sends to first (its family is the socket's).
    pub fn first_hop(&self, server: SocketAddr) -> SocketAddr {
        self.route.as_ref().map_or(server, MirrorRoute::mirror)
    }

    /// Rewrite queued datagrams for the mirror (no change when direct).
    pub fn wrap_all(&self, outbox: &mut [Transmit]) {
        let Some(route) = &self.route else {
            return;
        };
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for transmit in outbox {
            let mut wrapped =
                Vec::with_capacity(route.overhead(transmit.destination) + transmit.payload.len());
            route.wrap_into(
                transmit.destination,
                &transmit.payload,
                now_secs,
                &mut wrapped,
            );
            transmit.payload = wrapped;
            transmit.destination = route.mirror();
        }
    }

    /// The datagram of ours that an ICMP error quotes, as the core sent it: through a mirror,
    /// without the encapsulation (`None` if the quote is not one of our encapsulations).
    pub fn quoted<'a>(&self, quoted: &'a [u8]) -> Option<&'a [u8]> {
        match &self.route {
            None => Some(quoted),
            Some(_) => trickles_netfn::encap::EncapRepr::parse(quoted)
                .ok()
                .map(|(_, inner)| inner),
        }
    }

    /// The sender and datagram to hand to a connection, or `None` for a datagram that did not
    /// come through the mirror (when a mirror is used).
    pub fn received<'a>(
        &self,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Option<(SocketAddr, &'a [u8])> {
        match &self.route {
            None => Some((from, datagram)),
            Some(route) => match route.unwrap(from, datagram) {
                Ok(delivery) => Some(delivery),
                Err(error) => {
                    tracing::trace!(%from, %error, "datagram not delivered by the mirror");
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    #[test]
    fn direct_path_changes_nothing() {
        let path = DatagramPath::new(None);
        let mut outbox = vec![Transmit {
            destination: addr("127.0.0.1:4433"),
            payload: b"request".to_vec(),
        }];
        path.wrap_all(&mut outbox);
        assert_eq!(outbox[0].destination, addr("127.0.0.1:4433"));
        assert_eq!(outbox[0].payload, b"request");
        assert_eq!(
            path.received(addr("10.0.0.1:1"), b"x"),
            Some((addr("10.0.0.1:1"), &b"x"[..]))
        );
    }

    #[test]
    fn mirrored_path_wraps_for_the_mirror_and_accepts_only_its_deliveries() {
        let mirror = addr("127.0.0.1:7000");
        let server = addr("127.0.0.1:4433");
        let path = DatagramPath::new(Some(MirrorRoute::new(mirror)));
        assert_eq!(path.first_hop(server), mirror);
        let mut outbox = vec![Transmit {
            destination: server,
            payload: b"request".to_vec(),
        }];
        path.wrap_all(&mut outbox);
        assert_eq!(outbox[0].destination, mirror);
        let (header, inner) =
            trickles_netfn::encap::EncapRepr::parse(&outbox[0].payload).expect("encapsulated");
        assert_eq!((header.peer, inner), (server, &b"request"[..]));

        let delivery = trickles_netfn::encap::EncapRepr::new(server).encapsulate(b"response");
        assert_eq!(
            path.received(mirror, &delivery),
            Some((server, &b"response"[..]))
        );
        assert_eq!(path.received(server, &delivery), None);
        assert_eq!(path.received(mirror, b"\x01\x03plain"), None);
    }
}
