//! The Trickles client: the stateful end of a connection.
//!
//! The server remembers nothing, so the client keeps everything a transport needs: the
//! received data ([`reassembly`]), which packets arrived and the nonce proof of it
//! ([`scoreboard`], in the two views of [`receipts`]), the continuations it has yet to hand
//! back, the packets in flight ([`flight`]), the RTT and timeout ([`rtt`]). It sends one request
//! per received packet, in sequence order (holding requests back across a hole until the
//! reordering threshold declares a loss, and while the packets they would release do not fit
//! the window), restarts the window with a slow-start request after a timeout, and, if its
//! continuations have gone stale, resumes the stream with a new `HELLO` at the first byte it
//! lacks. It accepts a connection's packets from whichever replica sends them. When the network
//! says the server is unreachable (an ICMP error the driver reads from its socket), it retries at
//! once instead of waiting for its timer, paced so that forged errors cost little ([`mod@unreachable`]).

pub mod config;
pub mod connection;
pub mod flight;
pub mod reassembly;
pub mod receipts;
pub mod rtt;
pub mod scoreboard;
pub mod unreachable;

pub use config::{ClientConfig, ClientError, ClientStats, ClientStatus};
pub use connection::ClientConnection;
