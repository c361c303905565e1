//! One UDP worker: a thread owning a socket and a [`ServerEndpoint`], looping
//! receive batch → core → send batch until shutdown.
//!
//! The loop reads the wall clock once per batch (the core's `now` is microseconds since the UNIX
//! epoch, compared across replicas). Every datagram is counted; a dropped one by the core's
//! reason name. Whatever the core queued is sent, even when it then reports a drop (a refused
//! HELLO is answered with a `REFUSE`). Replies queue by the socket they leave from: the listen
//! socket, or a VIP socket for direct return ([`super::direct_return`]); each queue is one
//! batched send. Nothing here panics on input: the payload only ever reaches the core's parsers.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use trickles::app::Application;
use trickles::server::ServerEndpoint;
use trickles::time::Instant;
use trickles::wire::{Header, PacketType};
use trickles::Transmit;
use trickles_netfn::udp::{receive, Outgoing, RecvBatch, SendBatch, WorkerContext, BATCH_LEN};
use trickles_netfn::{Published, Subscriber};

use super::balancer_relay::{self, ReplyRoute};
use super::metrics::{
    BatchCounts, DirectReplySource, UdpMetrics, TRUNCATED, UNKNOWN_ADDRESS_FAMILY,
};
use super::shared_keys::SharedKeys;
use super::vip_sockets::VipSockets;

/// Receive slot per datagram: requests are far smaller, but a HELLO may be padded up to
/// [`trickles::wire::hello::MAX_HELLO_PADDING`] to draw a first window of jumbo packets, and a
/// balancer may put an encapsulation header in front of it; larger datagrams are truncated.
pub const SLOT_LEN: usize =
    trickles::wire::hello::MAX_HELLO_PADDING + trickles_netfn::hop_auth::TAGGED_HEADER_MAX;

/// What every worker of a driver shares.
#[derive(Clone, Debug)]
pub struct WorkerShared {
    /// The published key ring.
    pub keys: Arc<SharedKeys>,
    /// The counters.
    pub metrics: UdpMetrics,
    /// Balancers whose encapsulation header is trusted ([`balancer_relay`]).
    pub balancers: Arc<Published<Vec<std::net::SocketAddr>>>,
    /// The pool key the balancer hop is authenticated with, if any ([`balancer_relay`]).
    pub pool_key: Arc<Published<Option<trickles_netfn::PoolKey>>>,
    /// The replay filter of the process ([`trickles::replay`]).
    pub replay: Arc<trickles::replay::ReplayFilter>,
    /// Its metrics and saturation warning ([`super::replay_watch`]).
    pub replay_watch: Arc<super::replay_watch::ReplayWatch>,
    /// Explains `untrusted_encap` drops ([`super::untrusted_encap_log`]).
    pub untrusted_log: Arc<super::untrusted_encap_log::UntrustedEncapLog>,
}

/// The wall clock as the core wants it.
pub fn wall_clock() -> Instant {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Instant(micros)
}

/// Serve the worker's socket with `endpoint` until its group stops; replies to DIRECT_RETURN
/// requests leave from `vips` when one of the client's family is bound
/// ([`super::direct_return`]).
pub fn run<A: Application>(
    ctx: WorkerContext,
    mut vips: VipSockets,
    mut endpoint: ServerEndpoint<A>,
    shared: WorkerShared,
) {
    let socket = &ctx.socket;
    let mut batch = RecvBatch::with_slot_len(SLOT_LEN);
    let mut send = SendBatch::new();
    let mut out: Vec<Transmit> = Vec::with_capacity(BATCH_LEN * 4);
    let mut counts = BatchCounts::default();
    let mut key_generation = shared.keys.generation();
    let mut balancers = Subscriber::new(shared.balancers.clone());
    let mut pool_key = Subscriber::new(shared.pool_key.clone());

    while !ctx.stopping() {
        // netfn's receive: a poll timeout or a transient error (an ICMP error reported on the
        // socket) is an empty batch, and a persistent error never spins.
        if receive(&mut batch, socket) == 0 {
            shared.replay_watch.tick(wall_clock());
            continue;
        }
        // After the (blocking) receive, so a reload applies to the very next datagram.
        if let Some((generation, ring)) = shared.keys.newer_than(key_generation) {
            endpoint.set_keys(ring);
            key_generation = generation;
        }
        balancers.refresh();
        pool_key.refresh();
        let now = wall_clock();
        let trust = balancer_relay::Trust {
            balancers: balancers.current(),
            pool_key: Option::as_ref(pool_key.current()),
            now_secs: now.micros() / 1_000_000,
        };
        for index in 0..batch.len() {
            let Some(datagram) = batch.get(index) else {
                break;
            };
            counts.packets_received += 1;
            counts.bytes_received += datagram.payload.len() as u64;
            let Some(from) = datagram.from else {
                counts.reject(UNKNOWN_ADDRESS_FAMILY);
                continue;
            };
            if datagram.truncated {
                counts.reject(TRUNCATED);
                continue;
            }
            let ingress = match balancer_relay::unwrap(trust, from, datagram.payload) {
                Ok(ingress) => ingress,
                Err(reason) => {
                    if reason == balancer_relay::UNTRUSTED_ENCAP {
                        shared.untrusted_log.refused(now, from, trust.balancers);
                    } else if balancer_relay::is_tag_refusal(reason) {
                        shared.untrusted_log.refused_tag(now, from, reason);
                    }
                    counts.reject(reason);
                    continue;
                }
            };
            let is_hello = matches!(
                Header::parse(ingress.payload),
                Ok((header, _)) if header.packet_type == PacketType::Hello
            );
            // The replies queue by the socket they leave from.
            let (queue, direct) = match ingress.route {
                ReplyRoute::DirectReturn => match vips.queue_for(ingress.client) {
                    Some(queue) => (queue, Some(DirectReplySource::Vip)),
                    None => (&mut out, Some(DirectReplySource::OwnAddress)),
                },
                _ => (&mut out, None),
            };
            let first_reply = queue.len();
            match endpoint.handle_datagram(now, ingress.client, ingress.payload, queue) {
                Ok(_) if is_hello => counts.hellos += 1,
                Ok(_) => counts.continuations_verified += 1,
                Err(reason) => counts.reject(reason.name()),
            }
            ingress.route.apply(&mut queue[first_reply..], trust);
            if let Some(source) = direct {
                counts.direct_replies(source, queue.len() - first_reply);
            }
        }
        send_queued(&mut send, socket, &mut out, &mut counts);
        for (vip_socket, queue) in vips.queues_mut() {
            send_queued(&mut send, vip_socket, queue, &mut counts);
        }
        shared.metrics.flush(&mut counts);
        shared.replay_watch.tick(now);
    }
}

/// Send and empty `queue` through `socket`, counting the outcome.
fn send_queued(
    send: &mut SendBatch,
    socket: &UdpSocket,
    queue: &mut Vec<Transmit>,
    counts: &mut BatchCounts,
) {
    if queue.is_empty() {
        return;
    }
    // One allocation per batch, not per packet: the transmits as one-part datagrams.
    let sent = send.send_each(socket, queue, |t| Outgoing::new(t.destination, &t.payload));
    counts.packets_sent += sent.packets;
    counts.bytes_sent += sent.bytes;
    counts.send_errors += sent.errors;
    queue.clear();
}
