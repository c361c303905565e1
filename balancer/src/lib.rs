//! # trickles-balancer: a stateless load balancer for a Trickles replica pool
//!
//! Clients send to a virtual address (VIP:port); the balancer hands every datagram to a replica
//! of the pool. Because any replica can resume any continuation, it keeps **no connection
//! table**: the choice is made per datagram, from the datagram and the configuration.
//!
//! - **Maglev** (default): consistent hashing on the connection id (bytes 2..10 of every
//!   Trickles datagram), so a connection sticks to one replica while the pool is stable and
//!   moves only when its replica leaves; every balancer with the same configuration builds the
//!   same table. **Spraying**: `round_robin` or `least_loaded` per datagram, so one connection
//!   is served by all replicas at once.
//! - **Health checks** (UDP HELLO probe by default, or HTTP `/healthz`) with rise/fall; a
//!   crashed replica leaves the table at its next probe. **Drain** and pool changes by config
//!   reload (`SIGHUP` or file watch) without dropping a packet; a bad file is refused with
//!   file, line and reason and the old configuration keeps serving.
//! - **Relay mode** (default, unprivileged): datagrams go to the replica behind the
//!   encapsulation header of `trickles-netfn` naming the client; the replica answers
//!   encapsulated and the balancer forwards the reply to the client without any table.
//!   **Direct server return**: the header asks the replica to answer the client directly.
//!   `docs/NETWORK-FUNCTIONS.md` describes both and the header byte by byte.
//!
//! ## Usage
//!
//! ```text
//! trickles-balancer --config balancer.yaml           # run until SIGINT/SIGTERM; SIGHUP reloads
//! trickles-balancer --config balancer.yaml --check   # validate and exit
//! ```
//!
//! The file format is in [`config`] ([`BalancerConfigFile`] as written, [`BalancerConfig`]
//! validated); the metrics (`trickles_balancer_*`) in [`metrics`]. The
//! replicas must accept the balancer's encapsulation: `trickles-server --balancer VIP` (or
//! `balancers:` in its YAML), or, with a pool key (`pool_key:` here, `--pool-key` there), the
//! hop tag both sides write and check (`docs/NETWORK-FUNCTIONS.md` §2.4).
//!
//! ## Map of the crate
//! - [`core`]: the sans-IO decisions — [`core::MaglevTable`], [`core::Spray`],
//!   [`core::HealthState`], [`core::ForwardingTable`], [`core::decide`], shared constants;
//! - [`pool`]: [`pool::PoolState`], configuration + health → forwarding table (pure);
//! - [`datapath`]: the worker loop on the VIP sockets (batched, lock-free table swap; hop tags
//!   written on what goes to a backend), [`hop_log`]: its rate-limited log of refused tags;
//! - [`probe`], [`controller`]: health probes and the task that publishes tables;
//! - [`xdp`]: the XDP datapath (`bpf/balancer.c`, loaded with aya): the same decision in the
//!   driver, in front of the userspace datapath (`datapath: xdp | auto`, `docs/XDP.md`);
//! - [`config`], [`metrics`], [`service`] (start, reload, stop), [`cli`], [`error`].
//!
//! ## Library use (tests, the lab)
//!
//! ```no_run
//! # async fn example() -> Result<(), trickles_balancer::BalancerError> {
//! use trickles_balancer::{config::BalancerConfig, service::RunningBalancer};
//! let config = BalancerConfig::load(std::path::Path::new("balancer.yaml"))?;
//! let balancer = RunningBalancer::start(config).await?; // backends probed once
//! println!("VIP {:?}, {} backends in the table", balancer.listen_addrs(),
//!          balancer.table().active().len());
//! balancer.shutdown().await;
//! # Ok(()) }
//! ```

pub mod backend_errors;
pub mod cli;
pub mod config;
pub mod controller;
pub mod core;
pub mod datapath;
pub mod error;
pub mod hop_log;
pub mod metrics;
pub mod pool;
pub mod probe;
pub mod service;
pub mod xdp;

pub use config::{
    BackendFile, BackendName, BalancerConfig, BalancerConfigFile, HealthFile, ModeFile, PolicyFile,
    ProbeKind, TableSize,
};
pub use error::BalancerError;
