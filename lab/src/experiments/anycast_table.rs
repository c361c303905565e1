//! The summary table of `trickles-lab exp anycast`: one row per transfer, the times from the
//! event (withdraw, route change, first resumed delivery) and what the client made of it.

use super::anycast::Row;
use super::report::millis;
use super::results_table::ResultTable;

/// The table of `rows`.
pub fn table(rows: &[Row]) -> ResultTable {
    let mut table = ResultTable::new(&[
        "scenario",
        "client",
        "bytes",
        "byte_exact",
        "seconds",
        "withdraw_ms",
        "route_ms",
        "route_after",
        "resumed_ms",
        "longest_stall_ms",
        "served_before",
        "served_after",
        "reconnects",
        "client_exit",
    ]);
    for (scenario, client, run) in rows {
        let stats = &run.transfer.stats;
        let after = |t: Option<f64>| millis(t.map(|t| t - run.event_at));
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
        table.push(vec![
            format!("{scenario:?}").to_ascii_lowercase(),
            client.label().to_owned(),
            stats.bytes.to_string(),
            if run.byte_exact { "yes" } else { "NO" }.to_owned(),
            format!("{:.2}", stats.seconds),
            after(run.withdrawn_at),
            after(run.route_changed_at),
            text(&run.route_after),
            millis(run.resumed_after()),
            format!("{:.0}", run.recovery.longest_stall_seconds() * 1e3),
            text(&run.served_before),
            text(&run.served_after),
            stats.reconnects.to_string(),
            run.transfer
                .failure
                .clone()
                .unwrap_or_else(|| "ok".to_owned()),
        ]);
    }
    table
}
