//! `trickles-lab exp friendliness` at a reduced size (needs root, as CI has; debug binaries):
//! in every run every flow, foreground and background, delivers data over the same window
//! through the mirror; Jain's index is in (0, 1] (exactly 1 for a flow alone); background
//! flows take a share from the foreground, of either protocol; all flows together stay within
//! the bottleneck; the CSV and both figures are written. Speeds are not asserted.

use trickles_lab::experiments::context::Protocol;
use trickles_lab::experiments::friendliness::{run, FriendlinessArgs};

#[test]
fn every_flow_delivers_over_the_window_and_competition_shares_the_bottleneck() {
    super::kit::root("the experiment test");
    super::kit::binaries();
    let out = tempfile::tempdir().expect("tempdir");
    let args = FriendlinessArgs::reduced(out.path().to_path_buf());
    let outcome = run(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outcome.runs.len(),
        2 * args.background.len() * args.repeats as usize
    );
    for run in &outcome.runs {
        assert_eq!(
            run.background_mbps.len(),
            run.background as usize,
            "{run:?}"
        );
        assert!(run.foreground_mbps > 0.0, "foreground got nothing: {run:?}");
        assert!(
            run.background_mbps.iter().all(|&mbps| mbps > 0.0),
            "a background flow got nothing: {run:?}"
        );
        assert!(run.jain > 0.0 && run.jain <= 1.0 + 1e-9, "{run:?}");
        if run.background == 0 {
            assert!((run.jain - 1.0).abs() < 1e-9, "{run:?}");
        }
        assert!(
            run.total_mbps() < 1.05 * args.rate_mbit,
            "more than the bottleneck's rate: {run:?}"
        );
    }
    let (alone, shared) = (args.background[0], args.background[1]);
    assert_eq!(alone, 0);
    // Sharing, as shares (a debug build on a loaded machine may run the foreground alone
    // below the link's rate, so rates alone cannot be compared): with background flows the
    // foreground leaves them at least a tenth of what all flows got.
    for protocol in Protocol::BOTH {
        for run in outcome.runs_of(protocol, shared) {
            let share = run.foreground_mbps / run.total_mbps();
            assert!(
                share < 0.9,
                "{}: {:.2} of {:.2} Mbit/s with background flows: no sharing",
                protocol.label(),
                run.foreground_mbps,
                run.total_mbps()
            );
        }
    }
    super::kit::assert_written(&outcome.report);
}
