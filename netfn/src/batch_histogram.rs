//! The per-batch handling time of a datapath worker, as one Prometheus histogram shared by the
//! network functions: `trickles_<component>_batch_duration_seconds`, from the moment a receive
//! batch is in hand to the moment its datagrams are sent and counted.
//!
//! One observation per batch (not per datagram), so the histogram costs two clock reads and a
//! few atomic adds per `recvmmsg`. The buckets span 2 µs to 0.5 s: a healthy batch on loopback
//! takes tens of microseconds; the top buckets show a worker starved of CPU.

use prometheus::{Histogram, HistogramOpts};

/// Upper bounds of the buckets, in seconds.
pub const BATCH_BUCKETS: [f64; 12] = [
    2e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, 2.5e-2, 1e-1, 5e-1,
];

/// The name of a component's histogram.
pub fn batch_duration_name(component: &str) -> String {
    format!("trickles_{component}_batch_duration_seconds")
}

/// A new, unregistered `trickles_<component>_batch_duration_seconds` histogram.
pub fn batch_duration_histogram(component: &str) -> prometheus::Result<Histogram> {
    Histogram::with_opts(
        HistogramOpts::new(
            batch_duration_name(component),
            "Time a datapath worker spent on one received batch (decide, send, count)",
        )
        .buckets(BATCH_BUCKETS.to_vec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets() {
        let histogram = batch_duration_histogram("example").expect("histogram");
        histogram.observe(3e-6);
        histogram.observe(0.2);
        let registry = prometheus::Registry::new();
        registry.register(Box::new(histogram)).expect("register");
        let text = crate::render(&registry);
        for line in [
            "trickles_example_batch_duration_seconds_bucket{le=\"0.000002\"} 0",
            "trickles_example_batch_duration_seconds_bucket{le=\"0.000005\"} 1",
            "trickles_example_batch_duration_seconds_bucket{le=\"0.1\"} 1",
            "trickles_example_batch_duration_seconds_bucket{le=\"0.5\"} 2",
            "trickles_example_batch_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }
}
