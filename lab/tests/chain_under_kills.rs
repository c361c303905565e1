//! The chain with real processes, reduced to fit a debug test: `trickles-client --via`
//! → `trickles-mirror` (10 ms each way, 1 % loss) → `trickles-balancer` (Maglev, the mirror as
//! upstream) → three replicas, ten concurrent 1 MiB downloads while a random replica is SIGKILLed
//! every second and restarted half a second later. Claim: every transfer is byte-exact and the
//! kills really happened during the downloads.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use trickles_lab::chain::{run_chain, ChainOptions};
use trickles_lab::mirror_process::EmulatedWan;

#[test]
fn ten_downloads_through_mirror_and_balancer_are_byte_exact_under_replica_kills() {
    let binaries = support::binaries_with_network_functions();
    let options = ChainOptions {
        ip: Ipv4Addr::LOCALHOST.into(),
        clients: 10,
        size: 1 << 20,
        seed: 7,
        wan: EmulatedWan {
            delay_ms: 10.0,
            loss: 0.01,
            seed: 7,
        },
        kill_every: Duration::from_secs(1),
        restart_after: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(20),
        limit: Duration::from_secs(50),
        keep_temp: false,
    };

    let report = run_chain(binaries, &options).expect("chain run");
    eprint!("{report}");

    assert_eq!(report.ok, 10, "every transfer byte-exact: {report}");
    assert_eq!(report.failed, 0, "{report}");
    assert!(
        report.kills >= 1,
        "at least one replica was killed: {report}"
    );
}
