//! `bench transfer` at a small size with the debug binaries: one run does the Trickles, TCP and
//! QUIC transfers, each checked byte-exact by the benchmark (SHA-256 against the served file),
//! and the report has a row for each and both ratios. No speed is asserted.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use trickles_lab::bench_transfer::{report, run_transfer_bench, Protocol, TransferBenchOptions};

use super::kit::binaries;

#[test]
fn one_run_measures_trickles_tcp_and_quic_byte_exact_and_reports_three_rows() {
    let out = tempfile::tempdir().expect("results dir");
    let opts = TransferBenchOptions {
        size: 1 << 20,
        runs: 1,
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        out_dir: out.path().to_path_buf(),
        transfer_limit: Duration::from_secs(120),
        mss: None,
        quic_program: PathBuf::from(env!("CARGO_BIN_EXE_trickles-lab")),
    };
    let outcome = run_transfer_bench(binaries(), &opts).expect("bench transfer");
    let protocols: Vec<Protocol> = outcome.measurements.iter().map(|m| m.protocol).collect();
    assert_eq!(protocols, Protocol::order(1).to_vec());
    for m in &outcome.measurements {
        assert_eq!(m.stats.bytes, 1 << 20, "{:?}", m.protocol);
        assert!(m.client_cpu_seconds >= 0.0, "{:?}", m.protocol);
    }
    let text = report(&outcome, &opts);
    for protocol in Protocol::ALL {
        assert_eq!(
            text.lines()
                .filter(|l| l.trim_start().starts_with(protocol.label()))
                .count(),
            1,
            "one row for {protocol:?} in\n{text}"
        );
    }
    assert!(text.contains("ratio Trickles/TCP"), "{text}");
    assert!(text.contains("ratio Trickles/QUIC"), "{text}");
    assert!(
        text.contains("QUIC socket (quinn-udp): GSO up to"),
        "{text}"
    );
    let csv = std::fs::read_to_string(&outcome.csv).expect("csv");
    assert_eq!(csv.lines().count(), 4, "{csv}");
}
