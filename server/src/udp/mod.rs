//! The UDP driver: worker threads that receive Trickles requests in batches, hand them to the
//! protocol core and send its answers in batches.
//!
//! - [`trickles_netfn::udp`] (shared with the balancer and the mirror): one `SO_REUSEPORT`
//!   socket per worker with large buffers and a poll timeout, `recvmmsg`/`sendmmsg` batches;
//! - [`worker`]: the loop of one thread (receive → `ServerEndpoint` → send, count);
//! - [`driver`]: starts and stops the workers of every listen address;
//! - [`shared_keys`]: key rings published to the workers on reload;
//! - [`metrics`]: the counters, flushed once per batch;
//! - [`replay_watch`]: how full the process's replay filter is (metrics, a warning);
//! - [`balancer_relay`]: datagrams relayed by a `trickles-balancer` (encapsulated client address);
//! - [`untrusted_encap_log`]: why encapsulated datagrams from elsewhere are dropped (logged);
//! - [`direct_return`], [`vip_sockets`]: direct server return from the VIP (`--dsr-vip`).

pub mod balancer_relay;
pub mod direct_return;
pub mod driver;
pub mod metrics;
pub mod replay_watch;
pub mod shared_keys;
pub mod untrusted_encap_log;
pub mod vip_sockets;
pub mod worker;

pub use driver::{UdpDriver, UdpListen};
