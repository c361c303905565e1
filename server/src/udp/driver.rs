//! [`UdpDriver`]: starts the UDP workers for every listen address and stops them.
//!
//! Each address gets `workers` threads; each thread has its own `SO_REUSEPORT` socket and its own
//! [`ServerEndpoint`] (own RNG), all serving one application behind an `Arc`. The replay filter
//! is one per process, shared by every worker of every listen address: the kernel hashes a
//! client's 4-tuple to one socket of *one* address, but nothing stops a client (or an attacker
//! who saw its packets) from sending a used request to another listen address or port of the
//! same process, which must be a replay there too. A replay from another client address fails
//! the continuation MAC, which binds the client address. The filter is lock-free on the packet
//! path (atomic bit arrays, see [`trickles::replay`]). With `dsr_vips`, each worker also owns a
//! socket per VIP that its direct-return replies leave from ([`super::vip_sockets`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use trickles::app::{AppError, Application, Opened};
use trickles::crypto::KeyRing;
use trickles::replay::ReplayFilter;
use trickles::server::{replay_filter_for, ServerConfig, ServerEndpoint};

use super::direct_return::DirectReturnSettings;
use super::metrics::UdpMetrics;
use super::replay_watch::ReplayWatch;
use super::shared_keys::SharedKeys;
use super::vip_sockets::VipSockets;
use super::worker::{self, WorkerShared};
use crate::error::ServerError;
use trickles_netfn::udp::socket;
use trickles_netfn::{Exclusivity, WorkerGroup};

/// An application shared by every worker (the core takes its application by value).
pub struct SharedApplication<A: ?Sized>(pub Arc<A>);

impl<A: Application + ?Sized> Application for SharedApplication<A> {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        self.0.open(request, client)
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        self.0.read_at(ucont, offset, buf)
    }
}

/// Where the UDP workers listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpListen {
    /// The listen addresses.
    pub addrs: Vec<SocketAddr>,
    /// Worker threads (one socket each) per address.
    pub workers: usize,
    /// Join the `SO_REUSEPORT` group of another process serving the same address instead of
    /// refusing to start ("address in use by another process").
    pub share_port: bool,
}

/// The running UDP workers.
pub struct UdpDriver {
    local_addrs: Vec<SocketAddr>,
    shared: WorkerShared,
    groups: Vec<WorkerGroup>,
}

impl UdpDriver {
    /// Bind `listen.workers` sockets on each address of `listen` and start one thread per
    /// socket (netfn's [`WorkerGroup`]), each with its own sockets on the VIPs of
    /// `direct_return`. Fails, leaving nothing running, if any address cannot be bound, or is
    /// served by another process and `listen.share_port` is off.
    pub fn start<A: Application + ?Sized + 'static>(
        listen: &UdpListen,
        direct_return: &DirectReturnSettings,
        config: &ServerConfig,
        keys: KeyRing,
        app: Arc<A>,
        metrics: UdpMetrics,
    ) -> Result<Self, ServerError> {
        if !direct_return.vips.is_empty() {
            tracing::info!(vips = ?direct_return.vips, free_bind = direct_return.free_bind,
                "direct-return replies leave from the VIP");
        }
        let replay = Arc::new(replay_filter_for(config));
        let replay_watch = Arc::new(ReplayWatch::new(
            replay.clone(),
            metrics.replay.clone(),
            config.replay_false_positive,
        ));
        let shared = WorkerShared {
            keys: Arc::new(SharedKeys::new(keys.clone())),
            metrics,
            balancers: Arc::new(trickles_netfn::Published::new(Vec::new())),
            pool_key: Arc::new(trickles_netfn::Published::new(None)),
            replay,
            replay_watch,
            untrusted_log: Arc::default(),
        };
        let soft_state = i64::try_from(shared.replay.memory_bytes()).unwrap_or(i64::MAX);
        shared.metrics.soft_state_bytes.add(soft_state);
        let mut driver = UdpDriver {
            local_addrs: Vec::with_capacity(listen.addrs.len()),
            shared,
            groups: Vec::with_capacity(listen.addrs.len()),
        };
        let workers = listen.workers;
        for addr in &listen.addrs {
            let started = Self::start_group(
                *addr,
                listen,
                direct_return,
                config,
                &keys,
                &app,
                &driver.shared,
            );
            match started {
                Ok(group) => {
                    tracing::info!(addr = %group.local_addr(), workers, "serving Trickles over UDP");
                    driver.local_addrs.push(group.local_addr());
                    driver.groups.push(group);
                }
                Err(error) => {
                    driver.shutdown();
                    return Err(error);
                }
            }
        }
        Ok(driver)
    }

    /// The workers of one listen address: their VIP sockets are bound first, so a failure
    /// starts nothing.
    fn start_group<A: Application + ?Sized + 'static>(
        addr: SocketAddr,
        listen: &UdpListen,
        direct_return: &DirectReturnSettings,
        config: &ServerConfig,
        keys: &KeyRing,
        app: &Arc<A>,
        shared: &WorkerShared,
    ) -> Result<WorkerGroup, ServerError> {
        let workers = listen.workers;
        let exclusivity = Exclusivity::new(
            listen.share_port,
            ", or pass --share-port (`share_port: true`) to serve it together",
        );
        let vips = (0..workers)
            .map(|_| VipSockets::bind(direct_return).map(Some))
            .collect::<Result<Vec<_>, _>>()?;
        let vips = Mutex::new(vips);
        let (config, keys, app, shared, replay) = (
            config.clone(),
            keys.clone(),
            app.clone(),
            shared.clone(),
            shared.replay.clone(),
        );
        let name = format!("udp-{addr}");
        let group = WorkerGroup::start_with(&name, addr, workers, exclusivity, move |ctx| {
            let taken = vips
                .lock()
                .ok()
                .and_then(|mut vips| vips.get_mut(ctx.index).and_then(Option::take));
            let Some(vips) = taken else {
                tracing::error!(worker = ctx.index, "no VIP sockets for this worker");
                return;
            };
            if ctx.index == 0 && !socket::has_requested_buffers(&ctx.socket) {
                tracing::warn!(
                    %addr,
                    wanted = socket::SOCKET_BUFFER_LEN,
                    "socket buffers smaller than wanted (raise net.core.rmem_max / wmem_max)"
                );
            }
            let endpoint = ServerEndpoint::with_replay_filter(
                config.clone(),
                keys.clone(),
                SharedApplication(app.clone()),
                rand::random(),
                replay.clone(),
            );
            worker::run(ctx, vips, endpoint, shared.clone());
        })?;
        Ok(group)
    }

    /// The bound address of each listen address (with the port chosen when it was 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Hand a new key ring to every worker (each picks it up before its next batch).
    pub fn set_keys(&self, keys: KeyRing) {
        self.shared.keys.publish(keys);
    }

    /// Trust the encapsulation header from these balancer addresses (replacing the list; each
    /// worker picks it up before its next batch). See [`super::balancer_relay`].
    pub fn set_balancers(&self, balancers: Vec<SocketAddr>) {
        if let Some(hint) = super::untrusted_encap_log::startup_hint(&balancers) {
            tracing::info!("{hint}");
        }
        self.shared.balancers.publish(balancers);
    }

    /// Require the pool key's hop tag on every encapsulated datagram (and tag relayed replies),
    /// or, with `None`, trust by source address alone; logs which. See
    /// [`super::balancer_relay`].
    pub fn set_pool_key(&self, pool_key: Option<trickles_netfn::PoolKey>) {
        match &pool_key {
            Some(key) => tracing::info!(
                key_id = key.id(),
                "pool key set: encapsulated datagrams must carry its hop tag (missing_tag, \
                 bad_tag and stale_tag are dropped), relayed replies carry it"
            ),
            None => tracing::info!(
                "no pool key: encapsulated datagrams are trusted by source address alone \
                 (--balancer); give --pool-key to authenticate the balancer hop"
            ),
        }
        self.shared.pool_key.publish(pool_key);
    }

    /// The replay filter every worker shares.
    pub fn replay_filter(&self) -> &Arc<ReplayFilter> {
        &self.shared.replay
    }

    /// Stop every worker and wait for them (at most one poll interval).
    pub fn shutdown(self) {
        for group in self.groups {
            group.stop();
        }
        let soft_state = i64::try_from(self.shared.replay.memory_bytes()).unwrap_or(i64::MAX);
        self.shared.metrics.soft_state_bytes.sub(soft_state);
    }
}
