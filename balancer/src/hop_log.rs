//! [`HopLog`]: says, at most once per [`LOG_EVERY`] per worker, that backend replies were
//! refused for their hop tag, naming the last source and the reason.
//!
//! With a pool key a reply without the replica's tag (a replica started without `--pool-key`,
//! another pool's key, a forger) is counted in `trickles_balancer_drops_total{reason}` and
//! dropped; the metric alone would leave a new user guessing which replica is misconfigured.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::core::DropReason;

/// Least time between two log lines of one worker.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Rate-limited warnings of one datapath worker.
#[derive(Debug, Default)]
pub struct HopLog {
    last: Option<Instant>,
    refused_since: u64,
}

impl HopLog {
    /// A reply from `source` was refused for `reason` at `now`; logs (and returns) a line
    /// unless one was logged within [`LOG_EVERY`].
    pub fn refused(
        &mut self,
        now: Instant,
        source: SocketAddr,
        reason: DropReason,
    ) -> Option<String> {
        self.refused_since += 1;
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        let message = format!(
            "dropped {} backend repl(ies), the last from {source} ({}): the pool key requires \
             the replica's hop tag (is that replica started with the same --pool-key?); \
             further drops are summed and logged every {} s",
            self.refused_since,
            reason.name(),
            LOG_EVERY.as_secs()
        );
        self.refused_since = 0;
        tracing::warn!("{message}");
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reply_is_logged_with_its_source_once_per_interval() {
        let mut log = HopLog::default();
        let t0 = Instant::now();
        let source: SocketAddr = "198.18.0.2:4433".parse().expect("addr");
        let line = log.refused(t0, source, DropReason::BadTag).expect("first");
        assert!(line.contains("198.18.0.2:4433 (bad_tag)"), "{line}");
        assert!(log.refused(t0, source, DropReason::BadTag).is_none());
        let later = log
            .refused(t0 + LOG_EVERY, source, DropReason::MissingTag)
            .expect("again");
        assert!(later.starts_with("dropped 2 backend"), "{later}");
    }
}
