//! `trickles-lab exp failover` at the reduced size, with the debug binaries (needs root, as
//! every experiment; CI runs as root): the server is SIGKILLed mid-transfer and restarted, and
//! both the unmodified Trickles client and the TCP client with `--http-range-resume` finish
//! byte-exact, get back to 80 % of their pre-kill goodput, and the files are written.

mod support;

use trickles_lab::experiments::context::{BaseArgs, Protocol};
use trickles_lab::experiments::failover::{self, FailoverArgs};
use trickles_lab::testbed::require_root;

#[test]
fn both_protocols_recover_from_the_server_kill_byte_exact() {
    if let Err(error) = require_root("the failover experiment test") {
        panic!("{error}");
    }
    let binaries = support::binaries();
    let out = tempfile::tempdir().expect("results dir");
    let mut base = BaseArgs::for_tests(out.path().to_path_buf());
    base.bin_dir = binaries.server.parent().map(|dir| dir.to_path_buf());
    let args = FailoverArgs::reduced(base);

    let outcome = failover::run(&args).unwrap_or_else(|e| panic!("exp failover: {e}"));

    let protocols: Vec<Protocol> = outcome.runs.iter().map(|r| r.protocol).collect();
    assert_eq!(protocols, Protocol::BOTH, "Trickles, then TCP");
    for run in &outcome.runs {
        let name = run.protocol.label();
        assert!(run.byte_exact, "{name}: {:?}", run.output_sha256);
        assert_eq!(run.transfer.stats.bytes, args.size, "{name}");
        assert!(
            run.killed_at >= args.kill_at,
            "{name}: killed at {}",
            run.killed_at
        );
        let restarted = run.restarted_at.expect("the server was restarted");
        assert!(restarted > run.killed_at, "{name}");
        let recovery = &run.recovery;
        assert!(recovery.pre_kill_mb_per_s > 0.0, "{name}: {recovery:?}");
        assert!(
            recovery.recovered_after.is_some(),
            "{name} must get back to 80 % of its pre-kill goodput: {recovery:?}"
        );
    }
    let trickles = &outcome.runs[0];
    assert!(
        trickles.recovery.outage.is_some(),
        "a dead Trickles server sends nothing: {:?}",
        trickles.recovery
    );
    let tcp = &outcome.runs[1];
    assert!(
        tcp.transfer.stats.reconnects >= 1,
        "the kill broke the TCP connection, so the client reconnected"
    );
    let csv = std::fs::read_to_string(&outcome.csv).expect("failover.csv");
    assert!(
        csv.starts_with("seconds,trickles_MBps,tcp_MBps\n"),
        "{csv:.80}"
    );
    assert!(csv.lines().count() > 10, "a goodput row per 100 ms");
    for file in [&outcome.plot.png, &outcome.plot.svg] {
        assert!(
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0),
            "{file:?}"
        );
    }
}
