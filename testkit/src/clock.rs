//! [`wall_clock`]: the core's [`Instant`] read from the system clock, as the drivers do. Test
//! servers and hand-driven connections in different threads (or processes) agree on it.

use std::time::{SystemTime, UNIX_EPOCH};

use trickles::time::Instant;

/// Microseconds since the Unix epoch, as the core's [`Instant`].
pub fn wall_clock() -> Instant {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Instant(micros)
}
