//! One simulated download through a drop-tail bottleneck, and where its time went.
//!
//! ```text
//! cargo run --release -p trickles --example bottleneck -- [RATE_MBIT QUEUE_BYTES RTT_MS OBJECT_BYTES]
//! ```
//!
//! Without arguments: the testbed's point (20 Mbit/s, 128 KiB queue, 0.1 ms, 8 MiB). Prints
//! the goodput, the utilisation of the link against the per-packet overhead bound, and the
//! timeouts, losses and longest stall (see `trickles::sim::bottleneck`).

use std::process::ExitCode;

use trickles::sim::Bottleneck;
use trickles::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut b = Bottleneck::testbed();
    if !args.is_empty() {
        let parsed = (|| -> Option<()> {
            let [rate, queue, rtt, len] = args.as_slice() else {
                return None;
            };
            b.rate_bps = (rate.parse::<f64>().ok()? * 1e6) as u64;
            b.queue_bytes = queue.parse().ok()?;
            b.one_way = Duration((rtt.parse::<f64>().ok()? * 500.0) as u64);
            b.object_len = len.parse().ok()?;
            Some(())
        })();
        if parsed.is_none() {
            eprintln!("usage: bottleneck [RATE_MBIT QUEUE_BYTES RTT_MS OBJECT_BYTES]");
            return ExitCode::FAILURE;
        }
    }
    println!("{}", b.run());
    ExitCode::SUCCESS
}
