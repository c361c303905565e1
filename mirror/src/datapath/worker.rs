//! One datapath worker: receive a batch, let the [`Mirror`] decide on each datagram, send
//! whatever is due, report the counts; sleep until the next datagram arrives or the next held
//! one is due, whichever comes first.
//!
//! Two clocks: the emulation runs on a monotonic clock (microseconds since the worker
//! started: a wall-clock step must not hold or release datagrams early), tag timestamps are
//! checked against the wall clock (seconds since the UNIX epoch, comparable across hosts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trickles_link::time::Instant;
use trickles_netfn::config::{Published, Subscriber};
use trickles_netfn::udp::{receive, Outgoing, RecvBatch, SendBatch, WorkerContext, POLL_INTERVAL};

use super::readiness::wait_readable;
use crate::metrics::MirrorMetrics;
use crate::mirror::{Mirror, Released};
use crate::reject::Reject;
use crate::rules::MirrorRules;

/// What every worker of a datapath shares.
#[derive(Clone, Debug)]
pub struct WorkerShared {
    /// The rules in force.
    pub rules: Arc<Published<MirrorRules>>,
    /// Every listen address of the mirror.
    pub locals: Arc<Published<Vec<SocketAddr>>>,
    /// Where counts go.
    pub metrics: MirrorMetrics,
    /// Seed of this listen address's workers.
    pub seed: u64,
}

/// Seconds since the UNIX epoch.
fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Ask the kernel to wake this thread on time: the default timer slack (50 µs) would add to
/// every emulated delay.
fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only this thread.
    let result = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    if result != 0 {
        tracing::debug!("cannot lower the timer slack; delays may run up to 50 µs long");
    }
}

/// Run one worker until its group stops.
pub fn run(context: WorkerContext, shared: &WorkerShared) {
    precise_timers();
    let mut rules = Subscriber::new(shared.rules.clone());
    let mut locals = Subscriber::new(shared.locals.clone());
    let own = context.socket.local_addr().ok();
    let local_addrs = |published: &Vec<SocketAddr>| {
        let mut all = published.clone();
        all.extend(own);
        all
    };
    let seed = shared.seed ^ context.index as u64;
    let mut mirror = Mirror::new(rules.current().clone(), local_addrs(locals.current()), seed);
    let mut reporter = shared.metrics.reporter();
    let mut batch = RecvBatch::new();
    let mut send = SendBatch::new();
    let mut released: Vec<Released> = Vec::new();
    let origin = std::time::Instant::now();
    let now = || Instant(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX));

    while !context.stopping() {
        let wait = match mirror.next_release() {
            Some(due) => Duration::from_micros(due.saturating_since(now()).micros()),
            None => POLL_INTERVAL,
        };
        let received = if wait_readable(&context.socket, wait.min(POLL_INTERVAL)) {
            receive(&mut batch, &context.socket)
        } else {
            0
        };
        let batch_started = (received > 0).then(std::time::Instant::now);
        if rules.refresh() {
            mirror.set_rules(rules.current().clone());
        }
        if locals.refresh() {
            mirror.set_local_addrs(local_addrs(locals.current()));
        }
        if received > 0 {
            let (at, secs) = (now(), wall_secs());
            for datagram in batch.iter() {
                match datagram.from {
                    None => {
                        mirror.count_datapath_reject(Reject::AddressFamily, datagram.payload.len())
                    }
                    Some(_) if datagram.truncated => {
                        mirror.count_datapath_reject(Reject::Truncated, datagram.payload.len())
                    }
                    Some(from) => {
                        // Refusals and losses are counted by the mirror; nothing to send.
                        let _ = mirror.on_datagram(at, secs, from, datagram.payload);
                    }
                }
            }
        }
        mirror.release_due(now(), &mut released);
        let mut send_errors = 0;
        if !released.is_empty() {
            send_errors = send
                .send_each(&context.socket, &released, |r| {
                    Outgoing::new(r.destination, &r.datagram)
                })
                .errors;
            for sent in released.drain(..) {
                mirror.recycle(sent.datagram);
            }
        }
        let counts = mirror.take_counters();
        reporter.report(
            &counts,
            mirror.queue_depth(),
            mirror.guard().evictions(),
            send_errors,
        );
        if let Some(started) = batch_started {
            shared.metrics.observe_batch(started.elapsed());
        }
    }
}
