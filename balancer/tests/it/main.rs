//! The balancer's integration tests, one binary (each module was a test file of its own): the
//! `trickles-balancer` executable, Maglev's properties, a pool of in-process replicas on
//! loopback, real server processes behind the balancer, and the chain through the mirror.

mod cli;
mod loopback_pool;
mod maglev_properties;
mod pool_key_processes;
mod real_processes;
mod second_instance;
mod support;
mod through_mirror;
mod xdp_datapath;
mod xdp_fixtures;
mod xdp_routed;
