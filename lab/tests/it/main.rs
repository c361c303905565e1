//! The lab's integration tests, one binary (each `tests/*.rs` would be a binary of its own,
//! linked separately). Loopback scenarios need no root; the namespace ones need root (CI runs
//! as root) and fail, saying so, without it.
//!
//! - [`loopback`]: real processes on 127.0.0.1 and ::1: byte-exact transfers, failovers of a
//!   replica, a balanced pool and a relayed one, the chain, the demo;
//! - [`quic`]: the QUIC baseline's server and client on 127.0.0.1 and [::1];
//! - [`bench_transfer`]: `bench transfer` at 1 MiB, Trickles, TCP and QUIC in one run;
//! - [`testbed`]: the namespace topology itself (routing, shaping, links cut and hosts crashed);
//! - [`direct_return`]: replies from the VIP, counted on the client's interface;
//! - `exp_*`: every `trickles-lab exp` at a reduced size (`exp_anycast` also needs BIRD).

mod bench_transfer;
mod direct_return;
mod exp_anycast;
mod exp_failover;
mod exp_friendliness;
mod exp_memory;
mod exp_pool;
mod exp_throughput;
mod exp_wan;
mod kit;
mod loopback;
mod quic;
mod testbed;
mod udp_sources;
