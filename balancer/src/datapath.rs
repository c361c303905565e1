//! The userspace datapath: one worker thread per `SO_REUSEPORT` socket on the VIP, looping
//! receive batch → [`decide`] per datagram → send batch → count.
//!
//! A worker picks up a newly published [`ForwardingTable`] between batches (one atomic load per
//! batch when nothing changed), so a health change or a reload never drops or splits a batch.
//! Datagrams to backends are sent as two parts, the encapsulation header (written into a small
//! per-slot array) and the received bytes, without copying the datagram; relayed replies are
//! sent as the sub-slice after their header (behind a new header naming the client when they go
//! back through an upstream mirror). Both leave from the VIP socket, so clients see replies come
//! from the VIP and backends see one balancer address.
//!
//! The VIP socket also hears ICMP errors for what it forwarded: a backend whose host says
//! "port unreachable" is probed at once, and the client whose datagram it quoted is told to
//! resume ([`crate::backend_errors`]).

use std::sync::Arc;
use std::time::Instant;

use trickles_netfn::encap::{EncapRepr, MAX_HEADER_LEN};
use trickles_netfn::udp::{receive, Outgoing, RecvBatch, SendBatch, WorkerContext, BATCH_LEN};
use trickles_netfn::{Published, Subscriber};

use tokio::sync::mpsc::UnboundedSender;
use trickles_netfn::udp::error_queue;

use crate::backend_errors::BackendErrors;
use crate::controller::ControlMessage;
use crate::core::{decide, DropReason, ForwardingTable, Spray, Verdict};
use crate::metrics::{BalancerMetrics, BatchCounts};

/// Where one datagram of the batch goes.
#[derive(Clone, Copy, Debug)]
struct Planned {
    /// Position in the receive batch (and in the header array).
    index: usize,
    destination: std::net::SocketAddr,
    /// Bytes of encapsulation header to send first (0 for a relayed reply).
    head_len: usize,
    /// Where the body starts in the received datagram.
    body_start: usize,
    /// Backend it is counted for.
    backend: u32,
    to_backend: bool,
}

/// Run one worker until its group stops.
pub fn run(
    ctx: WorkerContext,
    table: Arc<Published<ForwardingTable>>,
    metrics: BalancerMetrics,
    control: UnboundedSender<ControlMessage>,
) {
    let mut tables = Subscriber::new(table);
    let mut spray = Spray::new(tables.current());
    let mut handles = metrics.backend_handles(tables.current());
    let mut counts = BatchCounts::new(tables.current().backends.len());
    let mut receive_batch = RecvBatch::new();
    let mut send_batch = SendBatch::new();
    let mut heads = vec![[0u8; MAX_HEADER_LEN]; BATCH_LEN];
    let mut plan: Vec<Planned> = Vec::with_capacity(BATCH_LEN);
    let mut backend_errors = BackendErrors::default();
    let ipv6 = ctx.socket.local_addr().is_ok_and(|a| a.is_ipv6());
    if let Err(error) = error_queue::enable(&ctx.socket, ipv6) {
        tracing::warn!(%error, "no ICMP errors on the VIP socket: a dead backend is noticed only by its probes");
    }

    while !ctx.stopping() {
        let received = receive(&mut receive_batch, &ctx.socket);
        if received == 0 {
            // A timeout, or an ICMP error now on the error queue.
            let heard = backend_errors.read(&ctx.socket, tables.current(), &control);
            metrics.backend_unreachables.inc_by(heard.unreachables);
            metrics.unreachable_notices.inc_by(heard.notices);
        }
        let started = Instant::now();
        if tables.refresh() {
            metrics.flush(&handles, &mut counts);
            spray.reset(tables.current());
            handles = metrics.backend_handles(tables.current());
            counts = BatchCounts::new(tables.current().backends.len());
        }
        if received == 0 {
            continue;
        }
        let table = tables.current();
        plan.clear();
        for (index, datagram) in receive_batch.iter().enumerate() {
            let Some(from) = datagram.from else {
                counts.drop(DropReason::AddressFamily);
                continue;
            };
            if datagram.truncated {
                counts.drop(DropReason::Truncated);
                continue;
            }
            match decide(datagram.payload, from, table, &mut spray) {
                Verdict::Forward {
                    backend,
                    destination,
                    header,
                    via,
                    inner,
                } => {
                    let head_len = header.emit_via(via, &mut heads[index]).unwrap_or(0);
                    plan.push(Planned {
                        index,
                        destination,
                        head_len,
                        body_start: datagram.payload.len() - inner.len(),
                        backend,
                        to_backend: true,
                    });
                }
                Verdict::Return {
                    backend,
                    client,
                    via,
                    inner,
                } => {
                    // Through the upstream relay: encapsulated, naming the client.
                    let head_len = match via {
                        Some(_) => EncapRepr::new(client).emit(&mut heads[index]).unwrap_or(0),
                        None => 0,
                    };
                    plan.push(Planned {
                        index,
                        destination: via.unwrap_or(client),
                        head_len,
                        body_start: datagram.payload.len() - inner.len(),
                        backend,
                        to_backend: false,
                    });
                }
                Verdict::Drop(reason) => counts.drop(reason),
            }
        }
        if plan.is_empty() {
            metrics.flush(&handles, &mut counts);
            metrics
                .batch_duration
                .observe(started.elapsed().as_secs_f64());
            continue;
        }
        let outgoing: Vec<Outgoing<'_>> = plan
            .iter()
            .filter_map(|p| {
                let datagram = receive_batch.get(p.index)?;
                Some(Outgoing::with_head(
                    p.destination,
                    &heads[p.index][..p.head_len],
                    &datagram.payload[p.body_start..],
                ))
            })
            .collect();
        let outcome = send_batch.send(&ctx.socket, &outgoing);
        // Refused sends are rare (a full buffer, no route): counted as drops, not per backend.
        for _ in 0..outcome.errors {
            counts.drop(DropReason::SendError);
        }
        for (p, out) in plan.iter().zip(&outgoing) {
            let Some(c) = counts.backend(p.backend) else {
                continue;
            };
            let bytes = out.body.len() as u64;
            if p.to_backend {
                c.to_backend_packets += 1;
                c.to_backend_bytes += bytes;
            } else {
                c.to_client_packets += 1;
                c.to_client_bytes += bytes;
            }
        }
        metrics.flush(&handles, &mut counts);
        metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
    }
    metrics.flush(&handles, &mut counts);
}
