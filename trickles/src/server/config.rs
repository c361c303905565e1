//! Tunables of the server step. Every replica of a pool should use the same values (the `mss`
//! and window travel in continuations, so a mismatch is safe but uneven).

use crate::time::Duration;

/// Server tunables.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Stream bytes per data packet. With 1200 a full RESPONSE is about 1350 bytes: it fits a
    /// 1500-byte Ethernet MTU over IPv4 and IPv6 (not the 1280-byte IPv6 minimum; use ≤ 1100
    /// minus the user continuation's length for that).
    pub mss: u16,
    /// Initial window in packets (the reference's INITIAL_CWND).
    pub initial_cwnd: u32,
    /// An unvalidated source never receives more than this many times the bytes it sent.
    pub amplification_factor: usize,
    /// Continuations older than this are refused; the replay filter covers this window plus
    /// `max_clock_skew`.
    pub freshness: Duration,
    /// Continuations stamped further than this in the future are refused (replica clock skew).
    pub max_clock_skew: Duration,
    /// Slow-start attempt `a` needs a continuation at least `min_restart_age · 2^a` old: the
    /// server enforces the client's RTO backoff without remembering anything.
    pub min_restart_age: Duration,
    /// Highest slow-start attempt number accepted.
    pub max_restart_attempt: u8,
    /// Requests the replay filter is sized for, per generation (`freshness + max_clock_skew`).
    pub replay_capacity: usize,
    /// Target false-positive rate of the replay filter (a false positive looks like a loss).
    pub replay_false_positive: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            mss: 1200,
            initial_cwnd: crate::cc::INITIAL_CWND,
            amplification_factor: 3,
            freshness: Duration::from_secs(30),
            max_clock_skew: Duration::from_secs(2),
            min_restart_age: Duration::from_millis(100),
            max_restart_attempt: crate::cc::MAX_RESTART_ATTEMPT,
            replay_capacity: 1 << 20,
            replay_false_positive: 1e-6,
        }
    }
}
