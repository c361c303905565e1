//! # trickles-server: the Trickles server driver
//!
//! The protocol core (`trickles`) is sans-IO; this crate owns what it leaves out: sockets,
//! threads, the clock, files, configuration, keys and metrics. It serves one application, the
//! static web server ([`static_files::StaticFiles`]), to Trickles clients over UDP and, as the
//! baseline every experiment compares against, to HTTP/1.1 clients over kernel TCP.
//!
//! ## Usage
//!
//! ```text
//! # a key file shared by every replica of the pool (mode 0600)
//! trickles-server keygen -o keys.yaml
//!
//! # serve ./www over Trickles (UDP, IPv4 and IPv6), HTTP/TCP, and metrics
//! trickles-server --root www --key-file keys.yaml \
//!     --listen 0.0.0.0:4433 --listen '[::]:4433' \
//!     --tcp-listen 0.0.0.0:8080 --metrics 127.0.0.1:9100
//!
//! # a replica behind a trickles-balancer in direct-return mode: trust the balancer's header
//! # and answer clients from the VIP (on lo: ip addr add 198.51.100.10/32 dev lo)
//! trickles-server --root www --key-file keys.yaml --listen 0.0.0.0:4433 \
//!     --balancer 198.51.100.10:4433 --dsr-vip 198.51.100.10:4433
//!
//! # the same from a YAML file; flags given as well override it
//! trickles-server --config server.yaml
//!
//! # rotate the key: write a rotated file, copy it to every replica, then on each
//! trickles-server keygen -o keys.yaml --rotate
//! kill -HUP <pid>          # reloads the configuration and the key file
//! ```
//!
//! A Trickles request is a file path (`trickles://host:4433/dir/file.bin` asks for
//! `/dir/file.bin`); the HTTP baseline serves the same path (`http://host:8080/dir/file.bin`),
//! honouring `Range: bytes=N-`. `GET /metrics` answers the Prometheus counters
//! (`trickles_server_*`), `GET /healthz` answers `200 ok`. Logging goes to standard error and is
//! filtered with `RUST_LOG` (default `info`). `SIGINT` or `SIGTERM` stop the server.
//!
//! The configuration file format is described in [`config`] ([`ServerConfigFile`] as written,
//! [`ServerSettings`] validated), the key file in [`keyfile`].
//!
//! ## Map of the crate
//! - [`cli`], [`config`]: command line and YAML settings; [`keyfile`], [`keygen`]: keys;
//! - [`static_files`]: the application (path rules, user continuation, open-file cache);
//! - [`watermark`]: the watermarking application (JPEG images with per-client text, under
//!   `/wm/`, enabled by `--watermark-root`) and the router serving it beside the static files;
//! - [`udp`]: the batched multi-worker UDP driver around the core's `ServerEndpoint`;
//! - [`http_baseline`], [`http_range`]: the HTTP/1.1 baseline over TCP;
//! - [`metrics`]: the registry and the `/metrics` + `/healthz` endpoint;
//!   [`http_listener`]: the accept loop both HTTP services share;
//! - [`service`]: starts, reloads and stops everything; [`error`]: the crate's error type.

pub mod cli;
pub mod config;
pub mod error;
pub mod http_baseline;
pub mod http_listener;
pub mod http_range;
pub mod keyfile;
pub mod keygen;
pub mod metrics;
pub mod service;
pub mod static_files;
pub mod udp;
pub mod watermark;

pub use config::{ServerConfigFile, Settings as ServerSettings};
pub use error::ServerError;
