//! Client tunables, status, errors and statistics.

use crate::time::Duration;

/// Client tunables.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// Receive buffer in bytes: requests are held back while their packets would not fit.
    /// The default holds a full window (MAX_CWND packets of 1200 bytes) so flow control only
    /// slows a connection whose reader falls behind.
    pub receive_window: usize,
    /// Out-of-order arrivals past a hole before it is declared lost (TCP's dupack threshold).
    pub reorder_threshold: u32,
    /// RTO before any RTT sample.
    pub initial_rto: Duration,
    /// Lower bound of the RTO.
    pub min_rto: Duration,
    /// Upper bound of the RTO.
    pub max_rto: Duration,
    /// HELLO datagrams are padded to this size (the server answers at most 3× of it).
    pub hello_padding: usize,
    /// HELLOs sent before giving up on a server that never answers.
    pub max_hello_attempts: u32,
    /// Consecutive timeouts without progress before giving up.
    pub max_timeouts: u32,
    /// The servers' freshness limit: older continuations are not used; the stream is resumed.
    pub freshness: Duration,
    /// The servers' minimum restart age (`ServerConfig::min_restart_age`): a slow-start restart
    /// whose continuation would reach the server younger than this times 2^attempt is refused
    /// (silently), so the client resumes with a HELLO instead of losing a backed-off RTO.
    pub min_restart_age: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            receive_window: 16 << 20,
            reorder_threshold: 3,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            hello_padding: crate::wire::hello::HELLO_PADDED_LEN,
            max_hello_attempts: 6,
            max_timeouts: 10,
            freshness: Duration::from_secs(30),
            min_restart_age: Duration::from_millis(100),
        }
    }
}

/// Why a connection failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request.
    #[error("refused by server (code {code}): {message}")]
    Refused {
        /// Refusal code (see `docs/PROTOCOL.md`).
        code: u8,
        /// The server's explanation.
        message: String,
    },
    /// No answer / no progress for too long.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// Where a connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientStatus {
    /// HELLO sent, waiting for the first packet.
    Connecting,
    /// Receiving the stream.
    Transferring,
    /// Every byte of the stream has been received.
    Done,
    /// Gave up.
    Failed(ClientError),
}

/// Counters of one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Datagrams received for this connection.
    pub packets_received: u64,
    /// Packets whose seq had already been received.
    pub duplicate_packets: u64,
    /// New stream bytes received.
    pub bytes_received: u64,
    /// Requests sent (normal and slow start).
    pub requests_sent: u64,
    /// Retransmitted packets received.
    pub retransmissions: u64,
    /// Holes declared lost by the reordering threshold.
    pub loss_events: u64,
    /// Retransmission timeouts that restarted the window.
    pub timeouts: u64,
    /// HELLOs sent (first one included).
    pub hellos_sent: u64,
    /// Stream resumptions with a new HELLO (stale continuations).
    pub resumes: u64,
    /// Smoothed RTT in µs (0 before any sample).
    pub srtt_micros: u64,
    /// "Destination unreachable" errors for this connection's datagrams that it acted on (an
    /// immediate retry instead of waiting for the timer).
    pub unreachables: u64,
    /// Unreachables for this connection ignored by the pacing (arriving within the gap after
    /// the last one acted on).
    pub unreachables_paced: u64,
    /// Notices from a balancer that the replica serving this connection is unreachable (REFUSE
    /// code 6 from the address we send to); the ones not paced away are also counted in
    /// `unreachables`.
    pub unreachable_notices: u64,
    /// Moves to the next of the connection's replicas (after an unreachable or a timeout; only
    /// with [`super::ClientConnection::with_replicas`]).
    pub replica_moves: u64,
}
