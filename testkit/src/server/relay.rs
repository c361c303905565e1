//! [`Relay`]: who sends to a test server, and so how it reads a datagram and addresses its
//! answers. Behind the balancer it runs `trickles-server`'s own `udp::balancer_relay` (trust
//! encapsulation only from the balancer, treat the inner peer as the client, answer
//! encapsulated or directly); behind the mirror it uses the mirror's end-host codec.

use std::net::SocketAddr;

use trickles::Transmit;

/// What sends datagrams to the server.
#[derive(Clone, Debug)]
pub enum Relay {
    /// Clients, directly.
    Direct,
    /// Balancers at these addresses (a replica started with `--balancer VIP`).
    #[cfg(feature = "balancer-relay")]
    Balancer(Vec<SocketAddr>),
    /// The packet mirror at this address: datagrams arrive and leave wrapped by it.
    #[cfg(feature = "mirror-relay")]
    Mirror(trickles_mirror::MirrorRoute),
}

/// A datagram as the endpoint should see it.
pub(super) struct Ingress<'a> {
    /// The client: the source, or the peer the relay named.
    pub(super) client: SocketAddr,
    /// The Trickles datagram.
    pub(super) payload: &'a [u8],
    /// How its answers go back.
    pub(super) reply: Reply,
}

/// How the answers to one datagram go back.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reply {
    /// As the endpoint addressed them.
    AsSent,
    /// As the balancer asked.
    #[cfg(feature = "balancer-relay")]
    Balancer(trickles_server::udp::balancer_relay::ReplyRoute),
    /// Wrapped for the mirror.
    #[cfg(feature = "mirror-relay")]
    Mirror,
}

impl Relay {
    /// The datagram `datagram` from `from` as the endpoint should see it; `None` when the
    /// relay refuses it (untrusted, malformed, not from the mirror).
    pub(super) fn unwrap<'a>(&self, from: SocketAddr, datagram: &'a [u8]) -> Option<Ingress<'a>> {
        match self {
            Relay::Direct => Some(Ingress {
                client: from,
                payload: datagram,
                reply: Reply::AsSent,
            }),
            #[cfg(feature = "balancer-relay")]
            Relay::Balancer(balancers) => {
                let ingress =
                    trickles_server::udp::balancer_relay::unwrap(trust(balancers), from, datagram)
                        .ok()?;
                Some(Ingress {
                    client: ingress.client,
                    payload: ingress.payload,
                    reply: Reply::Balancer(ingress.route),
                })
            }
            #[cfg(feature = "mirror-relay")]
            Relay::Mirror(route) => {
                let (client, payload) = route.unwrap(from, datagram).ok()?;
                Some(Ingress {
                    client,
                    payload,
                    reply: Reply::Mirror,
                })
            }
        }
    }

    /// Re-addresses the endpoint's answers `out` for the way back.
    #[cfg_attr(
        not(any(feature = "balancer-relay", feature = "mirror-relay")),
        allow(unused_variables)
    )]
    pub(super) fn readdress(&self, reply: Reply, out: &mut [Transmit]) {
        match (self, reply) {
            #[cfg(feature = "balancer-relay")]
            (_, Reply::Balancer(route)) => route.apply(out, trust(&[])),
            #[cfg(feature = "mirror-relay")]
            (Relay::Mirror(route), Reply::Mirror) => {
                for transmit in out {
                    transmit.payload = route.wrap(transmit.destination, &transmit.payload, 0);
                    transmit.destination = route.mirror();
                }
            }
            _ => {}
        }
    }
}

/// Trust by source address alone (the test kit's balancer relay has no pool key).
#[cfg(feature = "balancer-relay")]
fn trust(balancers: &[SocketAddr]) -> trickles_server::udp::balancer_relay::Trust<'_> {
    trickles_server::udp::balancer_relay::Trust {
        balancers,
        pool_key: None,
        now_secs: 0,
    }
}
