//! One download through a drop-tail bottleneck keeps the link busy: slow start overshooting
//! the queue loses half a window, and the recovery repairs it without a retransmission timeout
//! (the simulated counterpart of `trickles-lab exp throughput`; see `trickles::sim::bottleneck`).
//!
//! The bounds come from measurements. Before the client declared every hole with three packets
//! above it lost, kept the recovery plan of a window consistent and limited the recovery round
//! to the halved window (proportional rate reduction), and before the first request after a
//! recovery resent a lost end of the old window, the three points reached 0.939, 0.849 and
//! 0.839 of the overhead bound with 1, 1 and 13 timeouts (200-265 ms stalls); since, 0.999,
//! 0.951 and 0.953 with none.

use trickles::sim::{Bottleneck, BottleneckReport};
use trickles::time::Duration;

fn assert_keeps_the_link_busy(report: &BottleneckReport, utilisation: f64) {
    assert!(report.outcome.succeeded(), "{report}\n{}", report.outcome);
    assert_eq!(report.timeouts(), 0, "{report}");
    assert!(
        report.utilisation() >= utilisation,
        "utilisation below {utilisation}:\n{report}"
    );
    assert!(
        report.outcome.links.dropped_queue_full > 0,
        "the queue never overflowed: nothing was tested\n{report}"
    );
}

#[test]
fn slow_start_overshoot_into_a_short_round_trip_costs_no_timeout() {
    // 20 Mbit/s, 128 KiB queue, 0.1 ms: the testbed's throughput point. The queue holds ~92
    // packets; slow start overshoots it and loses every other packet of a ~186-packet window.
    let report = Bottleneck::testbed().run();
    assert_keeps_the_link_busy(&report, 0.98);
}

#[test]
fn a_bandwidth_delay_product_queue_keeps_100_mbit_busy() {
    let report = Bottleneck {
        rate_bps: 100_000_000,
        queue_bytes: 250_000,
        one_way: Duration::from_millis(10),
        object_len: 32 << 20,
        ..Bottleneck::testbed()
    }
    .run();
    assert_keeps_the_link_busy(&report, 0.94);
}

#[test]
fn a_short_queue_on_a_long_path_costs_no_timeout() {
    let report = Bottleneck {
        rate_bps: 10_000_000,
        queue_bytes: 32 << 10,
        one_way: Duration::from_millis(20),
        ..Bottleneck::testbed()
    }
    .run();
    assert_keeps_the_link_busy(&report, 0.93);
}
