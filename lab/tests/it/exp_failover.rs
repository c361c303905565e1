//! `trickles-lab exp failover` at the reduced size, with the debug binaries (needs root, as
//! every experiment; CI runs as root): the server is SIGKILLed mid-transfer and restarted, and
//! both the unmodified Trickles client and the TCP client with `--http-range-resume` finish
//! byte-exact, get back to 80 % of their pre-kill goodput, and the files are written.

use trickles_lab::experiments::failover::{self, FailoverArgs};

use super::kit::{assert_written, experiment_base};

#[test]
fn both_protocols_recover_from_the_server_kill_byte_exact() {
    let (_out, base) = experiment_base("the failover experiment test");
    let args = FailoverArgs::reduced(base);
    let outcome = failover::run(&args).unwrap_or_else(|e| panic!("exp failover: {e}"));
    let clients: Vec<&str> = outcome.runs.iter().map(|(label, _)| *label).collect();
    assert_eq!(clients, ["Trickles", "TCP (range resume)"]);
    for (name, run) in &outcome.runs {
        assert!(run.byte_exact, "{name}: {:?}", run.output_sha256);
        assert_eq!(run.transfer.stats.bytes, args.size, "{name}");
        assert!(
            run.failed_at >= args.kill_at,
            "{name}: killed at {}",
            run.failed_at
        );
        assert!(
            run.repaired_at.is_some_and(|t| t > run.failed_at),
            "{name}: restarted"
        );
        let recovery = &run.recovery;
        assert!(recovery.pre_kill_mb_per_s > 0.0, "{name}: {recovery:?}");
        assert!(
            recovery.recovered_after.is_some(),
            "{name} must get back to 80 % of its pre-kill goodput: {recovery:?}"
        );
    }
    let (trickles, tcp) = (&outcome.runs[0].1, &outcome.runs[1].1);
    assert!(
        trickles.recovery.outage.is_some(),
        "a dead Trickles server sends nothing"
    );
    assert!(
        tcp.transfer.stats.reconnects >= 1,
        "the kill broke the TCP connection, so the client reconnected"
    );
    let csv = outcome.report.file("failover.csv").expect("failover.csv");
    let csv = std::fs::read_to_string(csv).expect("failover.csv");
    assert!(
        csv.starts_with("seconds,trickles_MBps,tcp_range_resume_MBps\n"),
        "{csv:.80}"
    );
    assert!(csv.lines().count() > 10, "a goodput row per 100 ms");
    assert_written(&outcome.report);
}

/// The server's host crashes (link, processes and kernel state gone) and boots a second later:
/// the same Trickles client finishes byte-exact with no reconnect; TCP with range resume
/// reconnects to the booted host; plain TCP cannot survive it and fails.
#[test]
fn after_a_host_crash_trickles_continues_and_plain_tcp_fails() {
    let (_out, base) = experiment_base("the failover experiment test");
    let mut args = FailoverArgs::reduced(base);
    args.host_crash = true;
    let outcome = failover::run(&args).unwrap_or_else(|e| panic!("exp failover --host-crash: {e}"));
    let clients: Vec<&str> = outcome.runs.iter().map(|(label, _)| *label).collect();
    assert_eq!(clients, ["Trickles", "TCP (range resume)", "TCP"]);
    let (trickles, resumed, plain) = (&outcome.runs[0].1, &outcome.runs[1].1, &outcome.runs[2].1);
    assert!(
        trickles.byte_exact && trickles.transfer.failure.is_none(),
        "{:?}",
        trickles.transfer.stats
    );
    assert_eq!(
        trickles.transfer.stats.reconnects, 0,
        "Trickles has no connection to re-establish"
    );
    let down = trickles.repaired_at.expect("the host booted") - trickles.failed_at;
    assert!(
        trickles.recovery.outage_seconds() >= down * 0.9,
        "nothing arrives while the host is down"
    );
    assert!(
        resumed.byte_exact,
        "range resume finishes: {:?}",
        resumed.transfer.stats
    );
    assert!(resumed.transfer.stats.reconnects >= 1);
    assert!(
        plain.transfer.failure.is_some(),
        "plain TCP cannot survive the crash: {:?}",
        plain.transfer.stats
    );
    assert!(!plain.byte_exact);
    assert!(outcome.report.file("failover-host-crash.png").is_some());
    assert_written(&outcome.report);
}
