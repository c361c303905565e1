//! # trickles-server (being written)

pub mod cli;
pub mod config;
pub mod error;
pub mod http_baseline;
pub mod http_listener;
pub mod http_range;
pub mod keyfile;
pub mod keygen;
pub mod metrics;
pub mod static_files;
pub mod udp;

pub use error::ServerError;
