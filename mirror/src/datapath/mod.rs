//! The userspace UDP datapath: worker threads that feed received datagrams to a [`Mirror`]
//! and send what it releases, on `trickles_netfn`'s batched socket I/O.
//!
//! Each worker owns one `SO_REUSEPORT` socket and one [`Mirror`] (its own emulated path, its
//! own per-source table): no lock on the packet path. With several workers per address the
//! kernel spreads flows over them by 4-tuple hash, so a configured rate or bottleneck applies
//! per worker; one worker (the default) emulates exactly one path.
//!
//! - [`readiness`]: `ppoll` with a microsecond timeout, to wake when a delayed datagram is due;
//! - [`worker`]: the loop of one worker;
//! - [`MirrorDatapath`]: starts and stops the workers of every listen address.
//!
//! [`Mirror`]: crate::mirror::Mirror

pub mod readiness;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use trickles_netfn::config::Published;
use trickles_netfn::udp::WorkerGroup;
use trickles_netfn::NetfnError;

use crate::metrics::MirrorMetrics;
use crate::rules::MirrorRules;

/// The running workers of every listen address.
pub struct MirrorDatapath {
    groups: Vec<WorkerGroup>,
}

impl MirrorDatapath {
    /// Bind `workers` sockets on each address of `listen` and start a worker on each, applying
    /// the rules `rules` publishes. `seed` makes the emulation reproducible (each worker derives
    /// its own stream from it); `None` draws one at random. Fails, starting nothing, if an
    /// address cannot be bound.
    pub fn start(
        listen: &[SocketAddr],
        workers: usize,
        seed: Option<u64>,
        rules: Arc<Published<MirrorRules>>,
        metrics: &MirrorMetrics,
    ) -> Result<Self, NetfnError> {
        let base_seed = seed.unwrap_or_else(rand::random);
        // Every worker learns every listen address (datagrams addressed there are loops) once
        // all are bound.
        let locals = Arc::new(Published::new(Vec::<SocketAddr>::new()));
        let mut datapath = MirrorDatapath { groups: Vec::new() };
        for (group_index, addr) in listen.iter().enumerate() {
            let shared = worker::WorkerShared {
                rules: rules.clone(),
                locals: locals.clone(),
                metrics: metrics.clone(),
                seed: base_seed ^ ((group_index as u64) << 32),
            };
            let started = WorkerGroup::start("mirror", *addr, workers, move |context| {
                worker::run(context, &shared)
            });
            match started {
                Ok(group) => {
                    tracing::info!(addr = %group.local_addr(), workers, "mirroring");
                    datapath.groups.push(group);
                }
                Err(e) => {
                    datapath.stop();
                    return Err(e);
                }
            }
        }
        locals.publish(datapath.local_addrs());
        Ok(datapath)
    }

    /// The bound address of each listen address (with the port chosen when it was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.groups.iter().map(WorkerGroup::local_addr).collect()
    }

    /// Stop every worker and wait for them.
    pub fn stop(self) {
        for group in self.groups {
            group.stop();
        }
    }
}
