//! [`PoolWatch`]: who serves the transfer, read every [`POLL_EVERY`] from the processes'
//! `/metrics` — the one serving reader of the lab. Per replica it reads a packet counter: with a
//! balancer, `trickles_balancer_packets_total{backend="rI", direction="to_backend"}` (datagrams
//! the balancer sent it); without one, the replica's own `trickles_server_packets_sent_total`.
//! The replica whose counter grew most since the last read serves the transfer (with Maglev a
//! connection's datagrams all go to one replica). With a balancer it also reads which replicas
//! are in the forwarding table (`trickles_balancer_backend_in_table{backend}`). Each change is an
//! event of the run's timeline, so it is printed and plotted with the kill and the restart.

use crate::http_probe::labelled_metric_value;

/// How often the metrics are read (seconds): the precision of the times reported.
pub const POLL_EVERY: f64 = 0.02;

const PACKETS: &str = "trickles_balancer_packets_total";
const IN_TABLE: &str = "trickles_balancer_backend_in_table";

/// One reading: per replica, its packet counter and whether it is in the balancer's table
/// (`None`: not known, e.g. the replica is down or there is no balancer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    /// Packets to (or from) each replica so far.
    pub packets: Vec<Option<f64>>,
    /// Each replica's presence in the balancer's table.
    pub in_table: Vec<Option<bool>>,
}

impl Reading {
    /// The reading of `replicas` backends `r0`, `r1`, ... in a balancer's `/metrics` text.
    pub fn from_balancer(text: &str, replicas: usize) -> Self {
        let backend = |i: usize| format!("r{i}");
        Reading {
            packets: (0..replicas)
                .map(|i| {
                    let name = backend(i);
                    labelled_metric_value(
                        text,
                        PACKETS,
                        &[("backend", &name), ("direction", "to_backend")],
                    )
                    .or(Some(0.0))
                })
                .collect(),
            in_table: (0..replicas)
                .map(|i| {
                    labelled_metric_value(text, IN_TABLE, &[("backend", &backend(i))])
                        .map(|v| v > 0.5)
                })
                .collect(),
        }
    }
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

/// What the watch has read so far.
#[derive(Debug)]
pub struct PoolWatch {
    last_read: Option<f64>,
    packets: Vec<Option<f64>>,
    in_table: Vec<bool>,
    serving: Vec<(f64, usize)>,
    table_changes: Vec<TableChange>,
}

impl PoolWatch {
    /// A watch over `replicas` replicas, all in the table (as a started balancer has them).
    pub fn new(replicas: usize) -> Self {
        PoolWatch {
            last_read: None,
            packets: vec![None; replicas],
            in_table: vec![true; replicas],
            serving: Vec::new(),
            table_changes: Vec::new(),
        }
    }

    /// Whether a read is due at `now` (the last one was [`POLL_EVERY`] ago or more).
    pub fn due(&self, now: f64) -> bool {
        self.last_read.is_none_or(|t| now - t >= POLL_EVERY)
    }

    /// When the last reading was taken (seconds), if any was.
    pub fn last_read(&self) -> Option<f64> {
        self.last_read
    }

    /// The replica serving now: the last one whose counter grew most, if any grew.
    pub fn serving(&self) -> Option<usize> {
        self.serving.last().map(|&(_, replica)| replica)
    }

    /// The replica serving at `seconds`, by the reads up to then.
    pub fn serving_at(&self, seconds: f64) -> Option<usize> {
        self.serving
            .iter()
            .take_while(|&&(t, _)| t <= seconds)
            .last()
            .map(|&(_, replica)| replica)
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

    /// Applies one reading taken at `now`; every change becomes an event `(now, label)`.
    pub fn read(&mut self, reading: &Reading, now: f64, events: &mut Vec<(f64, String)>) {
        self.last_read = Some(now);
        let mut busiest: Option<(usize, f64)> = None;
        for (replica, &sent) in reading.packets.iter().enumerate().take(self.packets.len()) {
            let Some(sent) = sent else { continue };
            let before = self.packets[replica].replace(sent);
            let grew = before.map_or(0.0, |b| sent - b);
            if grew > 0.0 && busiest.is_none_or(|(_, most)| grew > most) {
                busiest = Some((replica, grew));
            }
        }
        for (replica, &in_table) in reading
            .in_table
            .iter()
            .enumerate()
            .take(self.in_table.len())
        {
            let Some(in_table) = in_table.filter(|&now_in| now_in != self.in_table[replica]) else {
                continue;
            };
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
            events.push((now, label));
        }
        if let Some((replica, _)) = busiest.filter(|&(r, _)| Some(r) != self.serving()) {
            let label = match self.serving() {
                None => format!("connection on replica {replica}"),
                Some(_) => format!("connection moved to replica {replica}"),
            };
            self.serving.push((now, replica));
            events.push((now, label));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(to_backend: [u64; 3], in_table: [u8; 3]) -> Reading {
        Reading::from_balancer(&metrics(to_backend, in_table), 3)
    }

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
        let mut watch = PoolWatch::new(3);
        let mut events = Vec::new();
        watch.read(&reading([0, 0, 0], [1, 1, 1]), 0.00, &mut events);
        watch.read(&reading([0, 0, 50], [1, 1, 1]), 0.02, &mut events);
        watch.read(&reading([0, 0, 90], [1, 1, 1]), 0.04, &mut events);
        watch.read(&reading([0, 0, 95], [1, 1, 0]), 0.06, &mut events);
        watch.read(&reading([0, 0, 95], [1, 1, 0]), 0.08, &mut events);
        watch.read(&reading([30, 0, 95], [1, 1, 0]), 0.10, &mut events);
        watch.read(&reading([60, 0, 95], [1, 1, 1]), 0.12, &mut events);
        watch.read(&reading([61, 0, 120], [1, 1, 1]), 0.14, &mut events);

        let labels: Vec<(f64, &str)> = events.iter().map(|(t, l)| (*t, l.as_str())).collect();
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
        assert_eq!(watch.serving_at(0.11), Some(0));
        assert_eq!(watch.table_change(2, false, 0.05), Some(0.06));
        assert_eq!(watch.table_change(2, true, 0.06), Some(0.12));
        assert_eq!(watch.table_change(1, false, 0.0), None);
    }

    #[test]
    fn no_traffic_names_no_serving_replica() {
        let mut watch = PoolWatch::new(3);
        let mut events = Vec::new();
        watch.read(&reading([5, 5, 5], [1, 1, 1]), 0.0, &mut events);
        watch.read(&reading([5, 5, 5], [1, 1, 1]), 0.1, &mut events);
        assert_eq!(watch.serving(), None);
        assert!(events.is_empty(), "{events:?}");
        assert!(watch.table_changes().is_empty());
    }
}
