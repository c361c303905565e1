//! The README's demo in its default scenario, reduced to fit a debug test: `trickles-client
//! --via` → `trickles-mirror` (10 ms each way, no loss) → `trickles-balancer` (Maglev) → three
//! replicas; the replica serving the download is SIGKILLed at a third and replaced half a second
//! later. Claims: the same client delivers exactly the served bytes, the kill happened during
//! the transfer, the balancer took the killed replica out of its table, and the CSV and the
//! plots are written.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use trickles_lab::demo::{default_front_end, run_demo, DemoOptions, DEFAULT_REPLICAS};
use trickles_lab::demo_report::report;
use trickles_lab::test_file::write_seeded;

const SIZE: u64 = 8 << 20;
const SEED: u64 = 2005;

#[test]
fn default_demo_kills_the_serving_replica_and_the_client_finishes_byte_exact() {
    let binaries = support::binaries_with_network_functions();
    let out = tempfile::tempdir().expect("temp dir");
    let expected = write_seeded(&out.path().join("expected"), SIZE, SEED).expect("reference");
    let options = DemoOptions {
        size: SIZE,
        seed: SEED,
        kill_at: 0.333,
        restart_after: Duration::from_millis(500),
        front_end: default_front_end(SEED),
        replicas: DEFAULT_REPLICAS,
        ip: Ipv4Addr::LOCALHOST.into(),
        port: None,
        out_dir: out.path().join("demo"),
        keep_temp: false,
        limit: Duration::from_secs(60),
    };

    let outcome = run_demo(binaries, &options).expect("demo run");
    eprint!("{}", report(&outcome));
    let run = &outcome.run;

    assert_eq!(run.stats.bytes, SIZE);
    assert_eq!(run.stats.sha256, expected, "client's digest");
    assert_eq!(outcome.sha256, expected, "served file's digest");
    assert!(
        run.delivered_at_kill > 0 && run.delivered_at_kill < SIZE,
        "the kill came during the transfer: after {} bytes",
        run.delivered_at_kill
    );
    assert!(
        run.trace.events().iter().any(|e| e
            .label
            .starts_with(&format!("replica {} killed", run.replica))),
        "the kill is an event of the trace: {:?}",
        run.trace.events()
    );
    let left = run
        .left_table_at
        .expect("the balancer's table lost the killed replica");
    assert!(left >= run.killed_at, "out of the table after the kill");
    for file in [&outcome.plots.png, &outcome.plots.svg]
        .into_iter()
        .chain(&outcome.csv)
    {
        let len = std::fs::metadata(file).map_or(0, |m| m.len());
        assert!(len > 0, "{} written", file.display());
    }
}
