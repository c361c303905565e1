//! [`PathCounters`]: whether the userspace pieces of a mirrored path kept up, read from the
//! counters that would show it if they did not: the mirror's own (datagrams it refused or
//! could not send, its release queue overflowing), the kernel's UDP receive-buffer overflows in
//! the mirror's and the hosts' namespaces (a mirror, tunnel endpoint or Trickles client too slow
//! to read its socket), and the TUN devices' transmit drops (a tunnel endpoint too slow to read
//! what TCP sends). Next to them, the drops that are meant to happen: the emulated random loss
//! and the bottleneck queue (TBF) overflowing.
//!
//! A run takes a snapshot before and after; [`PathCounters::since`] is what the run caused.

use std::fmt;

/// Counts of one path at one moment (or, after [`PathCounters::since`], over a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounters {
    /// Datagrams the mirror received.
    pub mirror_received: u64,
    /// Datagrams the mirror refused (any reason: unknown source, rate limit, ...).
    pub mirror_rejects: u64,
    /// Datagrams the kernel refused to send for the mirror.
    pub mirror_send_errors: u64,
    /// Datagrams lost because the mirror's release queue was full.
    pub mirror_queue_full: u64,
    /// Datagrams the emulated path lost on purpose (random and bursty loss).
    pub emulated_loss: u64,
    /// UDP receive-buffer overflows in the mirror's namespace.
    pub mirror_socket_overflows: u64,
    /// UDP receive-buffer overflows in the client and server namespaces (tunnel endpoints,
    /// Trickles client and server).
    pub host_socket_overflows: u64,
    /// Packets TUN devices dropped before their endpoint read them.
    pub tun_drops: u64,
    /// Packets the bottleneck queue dropped (the congestion signal, expected).
    pub bottleneck_drops: u64,
}

impl PathCounters {
    /// The counts accumulated since `earlier` (counters only grow; a restart reads as 0).
    pub fn since(&self, earlier: &PathCounters) -> PathCounters {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        PathCounters {
            mirror_received: d(self.mirror_received, earlier.mirror_received),
            mirror_rejects: d(self.mirror_rejects, earlier.mirror_rejects),
            mirror_send_errors: d(self.mirror_send_errors, earlier.mirror_send_errors),
            mirror_queue_full: d(self.mirror_queue_full, earlier.mirror_queue_full),
            emulated_loss: d(self.emulated_loss, earlier.emulated_loss),
            mirror_socket_overflows: d(
                self.mirror_socket_overflows,
                earlier.mirror_socket_overflows,
            ),
            host_socket_overflows: d(self.host_socket_overflows, earlier.host_socket_overflows),
            tun_drops: d(self.tun_drops, earlier.tun_drops),
            bottleneck_drops: d(self.bottleneck_drops, earlier.bottleneck_drops),
        }
    }

    /// Adds the counts of `other` (runs summed over an experiment).
    pub fn add(&mut self, other: &PathCounters) {
        self.mirror_received += other.mirror_received;
        self.mirror_rejects += other.mirror_rejects;
        self.mirror_send_errors += other.mirror_send_errors;
        self.mirror_queue_full += other.mirror_queue_full;
        self.emulated_loss += other.emulated_loss;
        self.mirror_socket_overflows += other.mirror_socket_overflows;
        self.host_socket_overflows += other.host_socket_overflows;
        self.tun_drops += other.tun_drops;
        self.bottleneck_drops += other.bottleneck_drops;
    }

    /// Packets lost or refused by the emulation machinery itself rather than by the path it
    /// emulates: 0 when the mirror, the tunnels and the hosts kept up.
    pub fn machinery_losses(&self) -> u64 {
        self.mirror_rejects
            + self.mirror_send_errors
            + self.mirror_queue_full
            + self.mirror_socket_overflows
            + self.host_socket_overflows
            + self.tun_drops
    }
}

impl fmt::Display for PathCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mirror received {} datagrams; machinery losses {} (mirror rejects {}, send errors \
             {}, release queue full {}, UDP receive overflows mirror {} / hosts {}, TUN drops \
             {}); path losses: emulated {}, bottleneck queue {}",
            self.mirror_received,
            self.machinery_losses(),
            self.mirror_rejects,
            self.mirror_send_errors,
            self.mirror_queue_full,
            self.mirror_socket_overflows,
            self.host_socket_overflows,
            self.tun_drops,
            self.emulated_loss,
            self.bottleneck_drops
        )
    }
}

/// The sum of every sample of `name` (any labels) in a Prometheus text whose labels contain
/// every one of `labels` (`key="value"` strings).
pub fn metric_sum(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_text, value) = match rest.strip_prefix('{') {
                Some(inner) => inner.split_once('}')?,
                None => ("", rest),
            };
            if !value.starts_with(' ') || !labels.iter().all(|l| label_text.contains(l)) {
                return None;
            }
            value.trim().parse::<f64>().ok()
        })
        .map(|value| value as u64)
        .sum()
}

/// `RcvbufErrors` of UDP and UDP-Lite over IPv4 (`/proc/net/snmp`, a header line then a value
/// line per protocol) plus `Udp6RcvbufErrors` (`/proc/net/snmp6`, one counter per line).
pub fn udp_receive_overflows(snmp: &str, snmp6: &str) -> u64 {
    let lines: Vec<&str> = snmp.lines().collect();
    let mut total = 0;
    for pair in lines.windows(2) {
        let (Some(("Udp", header)), Some(("Udp", values))) =
            (pair[0].split_once(": "), pair[1].split_once(": "))
        else {
            continue;
        };
        if let Some(i) = header.split_whitespace().position(|h| h == "RcvbufErrors") {
            total += values
                .split_whitespace()
                .nth(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
        + snmp6
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("Udp6RcvbufErrors"))
                    .then(|| words.next()?.parse::<u64>().ok())
                    .flatten()
            })
            .sum::<u64>()
}

/// The `dropped N` count of `tc -s qdisc show` (the root qdisc's line comes first).
pub fn qdisc_drops(tc_output: &str) -> u64 {
    tc_output
        .split("dropped ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_matching_labels_only() {
        let text = "# HELP x\n\
            trickles_mirror_emulated_drops_total{direction=\"to_client\",cause=\"random_loss\"} 4\n\
            trickles_mirror_emulated_drops_total{direction=\"to_server\",cause=\"random_loss\"} 3\n\
            trickles_mirror_emulated_drops_total{direction=\"to_server\",cause=\"delay_queue_full\"} 2\n\
            trickles_mirror_send_errors_total 7\n\
            trickles_mirror_send_errors_total_other 9\n";
        let drops = "trickles_mirror_emulated_drops_total";
        assert_eq!(metric_sum(text, drops, &[]), 9);
        assert_eq!(metric_sum(text, drops, &["cause=\"random_loss\""]), 7);
        assert_eq!(metric_sum(text, drops, &["cause=\"delay_queue_full\""]), 2);
        assert_eq!(
            metric_sum(text, "trickles_mirror_send_errors_total", &[]),
            7
        );
        assert_eq!(metric_sum(text, "absent", &[]), 0);
    }

    #[test]
    fn udp_overflows_come_from_both_families() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
            Udp: 100 0 5 90 5 0\n\
            UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
            UdpLite: 0 0 0 0 0 0\n";
        let snmp6 = "Udp6InDatagrams                 10\nUdp6RcvbufErrors                3\n";
        assert_eq!(udp_receive_overflows(snmp, snmp6), 8);
        assert_eq!(udp_receive_overflows("", ""), 0);
    }

    #[test]
    fn qdisc_drops_reads_the_first_dropped_count() {
        let tc = "qdisc tbf 8001: root refcnt 2 rate 100Mbit burst 67050b lat 20.0ms\n \
            Sent 1234 bytes 56 pkt (dropped 78, overlimits 90 requeues 0)\n \
            backlog 0b 0p requeues 0\n";
        assert_eq!(qdisc_drops(tc), 78);
        assert_eq!(qdisc_drops("qdisc noqueue 0: root"), 0);
    }

    #[test]
    fn since_subtracts_and_machinery_excludes_the_path_losses() {
        let before = PathCounters {
            mirror_received: 10,
            emulated_loss: 1,
            bottleneck_drops: 2,
            ..PathCounters::default()
        };
        let after = PathCounters {
            mirror_received: 110,
            emulated_loss: 4,
            bottleneck_drops: 9,
            tun_drops: 1,
            ..PathCounters::default()
        };
        let run = after.since(&before);
        assert_eq!(run.mirror_received, 100);
        assert_eq!(run.emulated_loss, 3);
        assert_eq!(run.bottleneck_drops, 7);
        assert_eq!(run.machinery_losses(), 1);
    }
}
