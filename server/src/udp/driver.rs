//! [`UdpDriver`]: starts the UDP workers for every listen address and stops them.
//!
//! Each address gets `workers` threads; each thread has its own `SO_REUSEPORT` socket and its own
//! [`ServerEndpoint`] (own replay filter, own RNG), all serving one application behind an `Arc`.
//! The kernel hashes a client's 4-tuple to one socket, so a client's requests meet the same
//! replay filter; a replay from another address fails the continuation MAC, which binds the
//! client address. No lock is shared on the packet path. With `dsr_vips`, each worker also owns
//! a socket per VIP that its direct-return replies leave from ([`super::vip_sockets`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use trickles::app::{AppError, Application, Opened};
use trickles::crypto::KeyRing;
use trickles::server::{ServerConfig, ServerEndpoint};

use super::direct_return::DirectReturnSettings;
use super::metrics::UdpMetrics;
use super::shared_keys::SharedKeys;
use super::vip_sockets::VipSockets;
use super::worker::{self, WorkerShared};
use crate::error::ServerError;
use trickles_netfn::udp::socket;
use trickles_netfn::NetfnError;

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

/// The running UDP workers.
pub struct UdpDriver {
    local_addrs: Vec<SocketAddr>,
    shared: WorkerShared,
    threads: Vec<JoinHandle<()>>,
}

impl UdpDriver {
    /// Bind `workers` sockets on each address of `listen` and start one thread per socket,
    /// each with its own sockets on the VIPs of `direct_return`. Fails (starting nothing) if
    /// any address cannot be bound.
    pub fn start<A: Application + ?Sized + 'static>(
        listen: &[SocketAddr],
        workers: usize,
        direct_return: &DirectReturnSettings,
        config: &ServerConfig,
        keys: KeyRing,
        app: Arc<A>,
        metrics: UdpMetrics,
    ) -> Result<Self, ServerError> {
        let mut groups = Vec::with_capacity(listen.len());
        for addr in listen {
            let group = socket::bind_group(*addr, workers).map_err(|e| bind_error(*addr, e))?;
            if !group.iter().all(socket::has_requested_buffers) {
                tracing::warn!(
                    %addr,
                    wanted = socket::SOCKET_BUFFER_LEN,
                    "socket buffers smaller than wanted (raise net.core.rmem_max / wmem_max)"
                );
            }
            let vips = group
                .iter()
                .map(|_| VipSockets::bind(direct_return))
                .collect::<Result<Vec<_>, _>>()?;
            groups.push(group.into_iter().zip(vips).collect::<Vec<_>>());
        }
        if !direct_return.vips.is_empty() {
            tracing::info!(vips = ?direct_return.vips, free_bind = direct_return.free_bind,
                "direct-return replies leave from the VIP");
        }
        let shared = WorkerShared {
            shutdown: Arc::new(AtomicBool::new(false)),
            keys: Arc::new(SharedKeys::new(keys.clone())),
            metrics,
            balancers: Arc::new(trickles_netfn::Published::new(Vec::new())),
        };
        let mut local_addrs = Vec::with_capacity(listen.len());
        let mut threads = Vec::new();
        for (group, sockets) in groups.into_iter().enumerate() {
            for (index, (socket, vips)) in sockets.into_iter().enumerate() {
                let local = socket.local_addr().map_err(|source| ServerError::Bind {
                    addr: listen[group],
                    source,
                })?;
                if index == 0 {
                    local_addrs.push(local);
                }
                let endpoint = ServerEndpoint::new(
                    config.clone(),
                    keys.clone(),
                    SharedApplication(app.clone()),
                    rand::random(),
                );
                let worker_shared = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("udp-{local}-{index}"))
                    .spawn(move || worker::run(socket, vips, endpoint, worker_shared));
                match spawned {
                    Ok(thread) => threads.push(thread),
                    Err(source) => {
                        let driver = UdpDriver {
                            local_addrs,
                            shared,
                            threads,
                        };
                        driver.shutdown();
                        return Err(ServerError::Bind {
                            addr: listen[group],
                            source,
                        });
                    }
                }
            }
            tracing::info!(addr = %local_addrs[group], workers, "serving Trickles over UDP");
        }
        Ok(UdpDriver {
            local_addrs,
            shared,
            threads,
        })
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
        self.shared.balancers.publish(balancers);
    }

    /// Stop every worker and wait for them (at most one poll interval).
    pub fn shutdown(self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a UDP worker panicked");
            }
        }
    }
}

/// The server's error for a socket that could not be bound (binding only ever fails that way).
fn bind_error(addr: SocketAddr, error: NetfnError) -> ServerError {
    match error {
        NetfnError::Bind { addr, source } => ServerError::Bind { addr, source },
        other => ServerError::Bind {
            addr,
            source: std::io::Error::other(other.to_string()),
        },
    }
}
