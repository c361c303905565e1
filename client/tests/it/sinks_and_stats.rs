//! Claims about the output sinks (positioned writes, stream order) and the stats documents.

use std::io::Cursor;

use trickles_client::{BodySink, ParallelReport, SeekSink, StreamSink, TransferStats};

#[test]
fn seek_sink_places_each_write_at_its_offset() {
    let mut sink = SeekSink::new(Cursor::new(Vec::new()));
    sink.write_at(0, b"abc").unwrap();
    sink.write_at(6, b"ghi").unwrap(); // a resume further on
    sink.write_at(3, b"def").unwrap(); // and the gap filled later
    sink.finish().unwrap();
    assert_eq!(sink.into_inner().into_inner(), b"abcdefghi");
}

#[test]
fn stream_sink_accepts_in_order_writes_and_refuses_jumps() {
    let mut out = Vec::new();
    {
        let mut sink = StreamSink::new(&mut out);
        sink.write_at(0, b"ab").unwrap();
        sink.write_at(2, b"cd").unwrap();
        let error = sink.write_at(10, b"x").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(sink.write_at(1, b"x").is_err(), "going back is refused too");
        sink.finish().unwrap();
    }
    assert_eq!(out, b"abcd");
}

fn transfer(bytes: u64, seconds: f64, retransmissions: u64, stall: f64) -> TransferStats {
    TransferStats {
        url: "trickles://h:1/x".to_owned(),
        protocol: "trickles".to_owned(),
        bytes,
        seconds,
        goodput_mbps: bytes as f64 * 8.0 / seconds / 1e6,
        retransmissions,
        longest_stall_ms: stall,
        first_byte_ms: 1.0,
        reconnects: 0,
        unreachables: 0,
        replica_moves: 0,
        sha256: "00".repeat(32),
    }
}

#[test]
fn parallel_totals_sum_bytes_and_retransmissions_and_take_the_worst_stall() {
    let transfers = vec![
        transfer(1_000_000, 1.0, 3, 12.5),
        transfer(3_000_000, 2.0, 4, 80.0),
    ];
    let report = ParallelReport::new("u".into(), "trickles".into(), transfers, 2.0);
    assert_eq!(report.parallel, 2);
    assert_eq!(report.totals.bytes, 4_000_000);
    assert_eq!(report.totals.retransmissions, 7);
    assert_eq!(report.totals.longest_stall_ms, 80.0);
    assert!(
        (report.totals.goodput_mbps - 16.0).abs() < 1e-9,
        "4 MB in 2 s is 16 Mb/s"
    );
}

#[test]
fn stats_json_has_the_documented_field_names() {
    let json = serde_json::to_value(transfer(8, 1.0, 0, 0.0)).unwrap();
    for field in [
        "url",
        "protocol",
        "bytes",
        "seconds",
        "goodput_mbps",
        "retransmissions",
        "longest_stall_ms",
        "sha256",
    ] {
        assert!(json.get(field).is_some(), "missing {field}: {json}");
    }
}
