//! The QUIC baseline of `trickles-lab bench transfer`: a small file server and client on
//! [quinn](https://docs.rs/quinn) 0.11, run by the lab as processes of their own (the hidden
//! subcommands `trickles-lab quic-serve` and `trickles-lab quic-get`), so each side's CPU time
//! is its own.
//!
//! Both keep quinn's defaults (GSO/GRO on, path-MTU discovery on with its 1452-byte ceiling,
//! CUBIC, the default flow-control windows) on a multi-threaded tokio runtime, as quinn's own
//! examples run. TLS 1.3 is rustls on the `ring` provider; the server makes a self-signed
//! certificate for `localhost` with rcgen when it starts and writes it out, and the client
//! trusts exactly that certificate.
//!
//! The exchange is one bidirectional stream: the client sends the file's name and finishes its
//! side, the server answers with the file's bytes and finishes; a wrong name is answered with a
//! stream reset ([`NOT_FOUND`]). The client hashes the body with SHA-256 as `trickles-client`
//! does and writes the same `--stats-json` document ([`crate::service::client::TransferStats`],
//! protocol `"quic"`).
//!
//! - [`tls`]: the certificate and the two TLS configurations;
//! - [`server`], [`client`]: the two programs;
//! - [`process`]: starting them from the lab.

pub mod client;
pub mod process;
pub mod server;
pub mod tls;

/// The application error code of a stream reset answering an unknown file name.
pub const NOT_FOUND: u32 = 404;

/// The name the server's certificate is for, and the client asks for.
pub const SERVER_NAME: &str = "localhost";

/// A multi-threaded tokio runtime (quinn's examples use `#[tokio::main]`, which is this).
fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::LabError::process("starting the tokio runtime", e))
}
