//! # trickles-balancer (work in progress)

pub mod cli;
pub mod config;
pub mod controller;
pub mod core;
pub mod datapath;
pub mod error;
pub mod metrics;
pub mod pool;
pub mod probe;
pub mod service;

pub use error::BalancerError;
