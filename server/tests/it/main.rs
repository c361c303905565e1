//! The server's integration tests, one binary (each module was a test file of its own): the
//! `trickles-server` executable and its configuration errors, key files, static files, the UDP
//! driver, the HTTP baseline, direct return from a VIP, and the watermarking application alone
//! and across replicas.

mod changed_mid_transfer;
mod cli;
mod config_errors;
mod direct_return_vip;
mod http_baseline;
mod keyfile_roundtrip;
mod pool_key_hop;
mod replay_across_sockets;
mod second_instance;
mod static_files;
mod support;
mod udp_driver;
mod untrusted_balancer;
mod watermark_app;
mod watermark_flood;
mod watermark_replicas;
