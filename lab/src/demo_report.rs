//! The demo's printed report: what the client fetched through, the byte-exact check, a
//! timeline of the failover (kill, the balancer's table, deliveries resumed, replacement), the
//! stall it caused, and where the plot and the data went.

use std::fmt::Write as _;

use crate::byte_size::format_bytes;
use crate::demo::DemoOutcome;
use crate::pool::failover::FailoverRun;

/// Column of the values.
const INDENT: &str = "              ";

/// The human report of a demo run.
pub fn report(outcome: &DemoOutcome) -> String {
    let run = &outcome.run;
    let stats = &run.transfer.stats;
    let mut text = String::new();
    let _ = writeln!(text, "through       client → {}", outcome.pool);
    let _ = writeln!(
        text,
        "transferred   {} ({} bytes), sha256 equal to the served file ({}…)",
        format_bytes(stats.bytes),
        stats.bytes,
        &outcome.sha256[..16.min(outcome.sha256.len())]
    );
    let _ = writeln!(
        text,
        "time          {:.3} s, goodput {:.1} MB/s ({:.1} Mb/s)",
        stats.seconds,
        stats.goodput_mbps / 8.0,
        stats.goodput_mbps
    );
    timeline(&mut text, run);
    stall(&mut text, run);
    if let Some(replica) = run.finished_on {
        let _ = writeln!(
            text,
            "finished on   replica {replica} (where the balancer sent the connection last)"
        );
    }
    let _ = writeln!(text, "retransmitted {} packets", stats.retransmissions);
    let _ = writeln!(
        text,
        "plot          {}\n{INDENT}{}{}",
        outcome.plots.png.display(),
        outcome.plots.svg.display(),
        if outcome.plots.has_text {
            ""
        } else {
            " (no font found: drawn without text)"
        }
    );
    let _ = writeln!(
        text,
        "data          {} (samples), {} ({:.0} ms bins)",
        outcome.csv[0].display(),
        outcome.csv[1].display(),
        outcome.bin_seconds * 1e3
    );
    if let Some(dashboard) = &outcome.dashboard {
        let _ = writeln!(
            text,
            "dashboard     {} (the failover overview, from Prometheus)\n{INDENT}{}",
            dashboard.files.png.display(),
            dashboard.files.svg.display()
        );
    }
    if let Some(kept) = &outcome.kept {
        let _ = writeln!(text, "kept          {}", kept.display());
    }
    text
}

/// One line per event of the trace, seconds since the client started, then the last byte.
fn timeline(text: &mut String, run: &FailoverRun) {
    let mut head = "timeline      ";
    for event in run.transfer.trace.events() {
        let _ = writeln!(text, "{head}{:7.3} s  {}", event.seconds, event.label);
        head = INDENT;
    }
    if let Some(&(last, bytes)) = run.transfer.trace.samples().last() {
        let _ = writeln!(
            text,
            "{head}{last:7.3} s  transfer complete ({})",
            format_bytes(bytes)
        );
    }
}

/// The pause the kill caused, placed against the balancer's reaction or the replacement.
fn stall(text: &mut String, run: &FailoverRun) {
    if let Some((from, to)) = run.recovery.longest_stall {
        let ms = |seconds: f64| seconds * 1e3;
        let cause = match (run.left_table_at, run.repaired_at) {
            (Some(out), _) if out <= to => format!(
                ": the balancer took the killed replica out {:.0} ms after the kill, deliveries \
                 resumed {:.0} ms after that",
                ms(out - run.failed_at),
                ms(to - out)
            ),
            (_, Some(up)) if to >= up => {
                format!(", {:.0} ms after the replacement was up", ms(to - up))
            }
            (_, Some(up)) => format!(", {:.0} ms before the replacement was up", ms(up - to)),
            (_, None) => String::new(),
        };
        let _ = writeln!(
            text,
            "stall         no deliveries from {from:.3} s to {to:.3} s ({:.0} ms){cause}",
            ms(to - from)
        );
    }
    let head = if run.recovery.longest_stall.is_some() {
        INDENT
    } else {
        "stall         "
    };
    let _ = writeln!(
        text,
        "{head}longest gap between deliveries {:.0} ms (the client's stats)",
        run.transfer.stats.longest_stall_ms
    );
}
