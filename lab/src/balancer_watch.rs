//! [`BalancerWatch`]: what a `trickles-balancer` did during a run, read from its `/metrics`
//! every [`POLL_EVERY`]: which replica received the client's datagrams (the one whose
//! `trickles_balancer_packets_total{backend, direction="to_backend"}` grew the most since the
//! last read), and which replicas were in the forwarding table
//! (`trickles_balancer_backend_in_table{backend}`). Each change becomes an event of the
//! [`DeliveryTrace`], so it is printed and plotted with the kill and the restart.
//!
//! Backends are named `r0`, `r1`, ... after the replicas (as [`BalancerSpec`] writes them).
//!
//! [`BalancerSpec`]: crate::balancer_process::BalancerSpec

use crate::balancer_process::BalancerProcess;
use crate::delivery_trace::DeliveryTrace;
use crate::http_probe::labelled_metric_value;

/// How often the metrics are read (seconds): the precision of the times reported.
pub const POLL_EVERY: f64 = 0.02;

const PACKETS: &str = "trickles_balancer_packets_total";
const IN_TABLE: &str = "trickles_balancer_backend_in_table";

/// The balancer's view of `replicas` replicas, as last read.
#[derive(Debug)]
pub struct BalancerWatch {
    last_read: Option<f64>,
    to_backend: Vec<Option<f64>>,
    in_table: Vec<bool>,
    serving: Option<usize>,
    table_changes: Vec<TableChange>,
}

/// A replica leaving or entering the forwarding table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableChange {
    /// Seconds since the client started (when the change was first read).
    pub seconds: f64,
    /// The replica.
    pub replica: usize,
    /// `true`: it entered the table; `false`: it left.
    pub in_table: bool,
}

impl BalancerWatch {
    /// A watch over `replicas` replicas, all in the table (as a started balancer has them).
    pub fn new(replicas: usize) -> Self {
        BalancerWatch {
            last_read: None,
            to_backend: vec![None; replicas],
            in_table: vec![true; replicas],
            serving: None,
            table_changes: Vec::new(),
        }
    }

    /// Reads the balancer's metrics, unless they were read less than [`POLL_EVERY`] ago, and
    /// records every change at `now` (seconds since the client started) in `trace`.
    pub fn poll(&mut self, balancer: &BalancerProcess, now: f64, trace: &mut DeliveryTrace) {
        if self.last_read.is_some_and(|t| now - t < POLL_EVERY) {
            return;
        }
        self.last_read = Some(now);
        if let Some(text) = balancer.metrics() {
            self.read(&text, now, trace);
        }
    }

    /// The replica that received the client's datagrams at the last change, if any did.
    pub fn serving(&self) -> Option<usize> {
        self.serving
    }

    /// Every change of the table read so far, in time order.
    pub fn table_changes(&self) -> &[TableChange] {
        &self.table_changes
    }

    /// The first time at or after `after` that `replica` was read leaving (`in_table` false)
    /// or entering (`true`) the table.
    pub fn table_change(&self, replica: usize, in_table: bool, after: f64) -> Option<f64> {
        self.table_changes
            .iter()
            .find(|c| c.replica == replica && c.in_table == in_table && c.seconds >= after)
            .map(|c| c.seconds)
    }

    /// Applies one `/metrics` text read at `now`.
    fn read(&mut self, text: &str, now: f64, trace: &mut DeliveryTrace) {
        let mut busiest: Option<(usize, f64)> = None;
        for replica in 0..self.in_table.len() {
            let backend = format!("r{replica}");
            let sent = labelled_metric_value(
                text,
                PACKETS,
                &[("backend", &backend), ("direction", "to_backend")],
            );
            if let Some(sent) = sent {
                let before = self.to_backend[replica].replace(sent);
                let grew = before.map_or(0.0, |b| sent - b);
                if grew > 0.0 && busiest.is_none_or(|(_, most)| grew > most) {
                    busiest = Some((replica, grew));
                }
            }
            let in_table =
                labelled_metric_value(text, IN_TABLE, &[("backend", &backend)]).map(|v| v > 0.5);
            if let Some(in_table) = in_table.filter(|&now_in| now_in != self.in_table[replica]) {
                self.in_table[replica] = in_table;
                self.table_changes.push(TableChange {
                    seconds: now,
                    replica,
                    in_table,
                });
                let label = if in_table {
                    format!("replica {replica} back in the balancer's table")
                } else {
                    format!("replica {replica} out of the balancer's table")
                };
                trace.event(now, label);
            }
        }
        if let Some((replica, _)) = busiest.filter(|&(r, _)| Some(r) != self.serving) {
            let label = match self.serving {
                None => format!("connection on replica {replica}"),
                Some(_) => format!("connection moved to replica {replica}"),
            };
            self.serving = Some(replica);
            trace.event(now, label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(to_backend: [u64; 3], in_table: [u8; 3]) -> String {
        let mut text = format!("# TYPE {PACKETS} counter\n");
        for (i, sent) in to_backend.iter().enumerate() {
            text.push_str(&format!(
                "{PACKETS}{{backend=\"r{i}\",direction=\"to_backend\"}} {sent}\n\
                 {PACKETS}{{backend=\"r{i}\",direction=\"to_client\"}} 999\n"
            ));
        }
        for (i, up) in in_table.iter().enumerate() {
            text.push_str(&format!("{IN_TABLE}{{backend=\"r{i}\"}} {up}\n"));
        }
        text
    }

    #[test]
    fn a_failover_reads_as_moves_of_the_connection_and_table_changes() {
        let mut watch = BalancerWatch::new(3);
        let mut trace = DeliveryTrace::default();
        watch.read(&metrics([0, 0, 0], [1, 1, 1]), 0.00, &mut trace);
        watch.read(&metrics([0, 0, 50], [1, 1, 1]), 0.02, &mut trace);
        watch.read(&metrics([0, 0, 90], [1, 1, 1]), 0.04, &mut trace);
        watch.read(&metrics([0, 0, 95], [1, 1, 0]), 0.06, &mut trace);
        watch.read(&metrics([0, 0, 95], [1, 1, 0]), 0.08, &mut trace);
        watch.read(&metrics([30, 0, 95], [1, 1, 0]), 0.10, &mut trace);
        watch.read(&metrics([60, 0, 95], [1, 1, 1]), 0.12, &mut trace);
        watch.read(&metrics([61, 0, 120], [1, 1, 1]), 0.14, &mut trace);

        let labels: Vec<(f64, &str)> = trace
            .events()
            .iter()
            .map(|e| (e.seconds, e.label.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                (0.02, "connection on replica 2"),
                (0.06, "replica 2 out of the balancer's table"),
                (0.10, "connection moved to replica 0"),
                (0.12, "replica 2 back in the balancer's table"),
                (0.14, "connection moved to replica 2"),
            ]
        );
        assert_eq!(watch.serving(), Some(2));
        assert_eq!(watch.table_change(2, false, 0.05), Some(0.06));
        assert_eq!(watch.table_change(2, true, 0.06), Some(0.12));
        assert_eq!(watch.table_change(1, false, 0.0), None);
    }

    #[test]
    fn no_traffic_names_no_serving_replica() {
        let mut watch = BalancerWatch::new(3);
        let mut trace = DeliveryTrace::default();
        watch.read(&metrics([5, 5, 5], [1, 1, 1]), 0.0, &mut trace);
        watch.read(&metrics([5, 5, 5], [1, 1, 1]), 0.1, &mut trace);
        assert_eq!(watch.serving(), None);
        assert!(trace.events().is_empty(), "{:?}", trace.events());
        assert!(watch.table_changes().is_empty());
    }
}
