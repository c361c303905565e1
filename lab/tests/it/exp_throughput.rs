//! `trickles-lab exp throughput` at a reduced size (needs root, as CI has): every body at every
//! client count is byte-exact (the run fails otherwise), both protocols use the bottleneck, and
//! Trickles' aggregate is of the same order as TCP's at each count. Speeds are for the
//! benchmark-size run, not asserted here.

use trickles_lab::experiments::context::Protocol;
use trickles_lab::experiments::throughput::{run, ThroughputArgs};

#[test]
fn both_protocols_fill_a_shaped_bottleneck_at_every_client_count() {
    super::kit::root("the experiment test");
    super::kit::binaries();
    let out = tempfile::tempdir().expect("tempdir");
    let args = ThroughputArgs::reduced(out.path().to_path_buf());
    let outcome = run(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.points.len(), 2 * args.clients.len());
    let link = args.rate_mbit as f64;
    for point in &outcome.points {
        assert!(
            point.mbit_per_second > 0.5 * link && point.mbit_per_second < 1.05 * link,
            "{point:?}: not using a {link} Mbit/s bottleneck"
        );
        if point.protocol == Protocol::Tcp {
            assert_eq!(
                point.retransmissions, 0,
                "TCP's are not visible to the client"
            );
        }
    }
    for (clients, ratio) in &outcome.ratios {
        assert!(*ratio > 0.5, "{clients} clients: Trickles/TCP = {ratio:.2}");
    }
    super::kit::assert_written(&outcome.report);
}
