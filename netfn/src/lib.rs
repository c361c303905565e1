//! # trickles-netfn: what the trickles network functions share
//!
//! The balancer (`trickles-balancer`) and the mirror (`trickles-mirror`) are stateless packet
//! functions with a userspace UDP datapath. Everything they both need lives here, once, with
//! what end hosts (the server and the client) share with them: the encapsulation header, the
//! mirror's end-host codec and batched UDP I/O.
//!
//! | module | what | main items |
//! | --- | --- | --- |
//! | [`encap`] | the encapsulation header (peer address + flags) that relays put in front of a datagram; spec in `docs/NETWORK-FUNCTIONS.md` §2 | [`EncapRepr`] (`parse`, `emit`, `to_bytes`, `encapsulate`; `parse_with_via` / `emit_via` for the VIA option), [`EncapPacket`] (checked view, `options()`), [`is_encapsulated`], [`encap::find_via`], [`encap::field`] offsets |
//! | [`mirror_shim`] | the end-host side of a packet mirror: wrap a datagram for the mirror, unwrap what it delivers (used by the client's `--via` and the tunnel endpoint) | [`MirrorRoute`] (`wrap`, `wrap_into`, `unwrap`, `overhead`), [`ShimError`] |
//! | [`mirror_auth`] | the shared key and the tag option a host signs mirror-bound datagrams with | [`AuthKey`] (`from_hex`, `tag`, `verify`), [`AuthOption`] (`find`, `sign`, `to_bytes`), [`mirror_auth::padding`] |
//! | [`hop_auth`] | the pool key and the tag a balancer and its replicas put on the encapsulation header between them (`docs/NETWORK-FUNCTIONS.md` §2.2) | [`PoolKey`] (`load`), [`hop_auth::sign_header`], [`hop_auth::check`], [`hop_auth::HopTag`] (`input`, `compute`), [`hop_auth::HopRefusal`] |
//! | [`canonical_addr`] | addresses as relays compare them (IPv4-mapped IPv6 is IPv4) | [`canonical`], [`canonical_addr::canonical_ip`] |
//! | [`udp`] | batched socket I/O and worker threads | [`RecvBatch`] (`recvmmsg`), [`SendBatch`] + [`Outgoing`] (`sendmmsg`, two-part datagrams: header + body without a copy), [`bind_group`] (`SO_REUSEPORT`), [`WorkerGroup`], [`receive`] |
//! | [`config`] | YAML files with `file:line: reason` errors, publish to the datapath, reload | [`ConfigSource`] (`read`, `parse::<T>`, `error_at("backends[2].weight", ..)`), [`ConfigError`], [`Published`] / [`Subscriber`], [`run_reloads`] (SIGHUP, file watch, [`ReloadTrigger`]) |
//! | [`metrics_endpoint`] | `GET /metrics` (Prometheus) and `GET /healthz` | [`MetricsEndpoint::start`], [`Health`], [`HealthFn`], [`render`] |
//! | [`http_limits`] | the connection cap and header timeout of every HTTP endpoint | [`http_limits::HttpLimits`], [`http_limits::ConnectionCap`] |
//! | [`standard_metrics`] | what every binary's registry holds: `trickles_<component>_build_info` and the `process_*` collector | [`register_standard_metrics`] |
//! | [`batch_histogram`] | the datapaths' per-batch handling time, `trickles_<component>_batch_duration_seconds` | [`batch_duration_histogram`] |
//! | [`http_get`](mod@http_get) | a tiny blocking HTTP GET for health checks and tests | [`http_get()`], [`HttpResponse`] |
//! | [`error`] | the crate's error type | [`NetfnError`] |
//!
//! ## How a network function is put together
//!
//! ```text
//!   config file ──ConfigSource::parse──▶ validate (error_at) ──▶ Published<Table>
//!        ▲ SIGHUP / file change: run_reloads (bad file: logged, old table keeps serving)
//!
//!   WorkerGroup: N threads, one SO_REUSEPORT socket each
//!     loop { receive(RecvBatch) → Subscriber::refresh → pure decision per datagram
//!            → Vec<Outgoing> (head = encap header, body = received bytes) → SendBatch::send
//!            → add counts to the metrics once per batch }
//!
//!   tokio runtime: MetricsEndpoint (/metrics, /healthz), run_reloads, health checks
//! ```
//!
//! The datapath threads are plain OS threads (blocking `recvmmsg` with a 100 ms poll timeout);
//! the control plane (metrics, reloads, probes) runs on a small tokio runtime. Decisions are
//! pure functions in each function's own crate, so they are tested without sockets and can be
//! mirrored by an XDP datapath later; constants a C datapath must share (header offsets) are
//! named in one place ([`encap::field`]).
//!
//! ## Example: encapsulate and parse
//!
//! ```
//! use trickles_netfn::encap::{EncapRepr, FLAG_DIRECT_RETURN};
//! let client: std::net::SocketAddr = "198.18.0.7:40001".parse().unwrap();
//! let wire = EncapRepr::new(client).encapsulate(b"\x01\x02trickles...");
//! let (header, inner) = EncapRepr::parse(&wire).unwrap();
//! assert_eq!(header.peer, client);
//! assert!(!header.direct_return());
//! assert_eq!(inner, b"\x01\x02trickles...");
//! # let _ = FLAG_DIRECT_RETURN;
//! ```
//!
//! ## Example: a configuration with located errors
//!
//! ```
//! use trickles_netfn::config::ConfigSource;
//! #[derive(serde::Deserialize)]
//! struct Pool { backends: Vec<String> }
//! let source = ConfigSource::from_text("pool.yaml", "backends:\n  - a\n  - a\n");
//! let pool: Pool = source.parse().unwrap();
//! if pool.backends[0] == pool.backends[1] {
//!     let error = source.error_at("backends[1]", "backend `a` listed twice");
//!     assert_eq!(error.to_string(), "pool.yaml:3: backend `a` listed twice");
//! }
//! ```

pub mod batch_histogram;
pub mod canonical_addr;
pub mod config;
pub mod encap;
pub mod error;
pub mod hop_auth;
pub mod http_get;
pub mod http_limits;
pub mod metrics_endpoint;
pub mod mirror_auth;
pub mod mirror_shim;
pub mod standard_metrics;
pub mod udp;

pub use batch_histogram::batch_duration_histogram;
pub use canonical_addr::canonical;
pub use config::{
    run_reloads, ConfigError, ConfigSource, Published, ReloadOptions, ReloadTrigger, Subscriber,
};
pub use encap::{is_encapsulated, EncapError, EncapPacket, EncapRepr};
pub use error::NetfnError;
pub use hop_auth::PoolKey;
pub use http_get::{http_get, HttpResponse};
pub use metrics_endpoint::{render, Health, HealthFn, MetricsEndpoint};
pub use mirror_auth::{AuthKey, AuthOption};
pub use mirror_shim::{MirrorRoute, ShimError};
pub use standard_metrics::register_standard_metrics;
pub use udp::{
    bind_group, receive, Exclusivity, Outgoing, PortSharing, RecvBatch, SendBatch, WorkerGroup,
};
