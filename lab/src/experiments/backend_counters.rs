//! [`BackendCounters`]: how many client datagrams the balancer has sent to each backend
//! (`trickles_balancer_packets_total{backend="rI",direction="to_backend"}`), read from its
//! `/metrics`. Two readings tell which replica served a connection in between: with Maglev a
//! connection's datagrams all go to one replica, so it is the one whose count grew most.

use crate::balancer_process::BalancerProcess;
use crate::http_probe::labelled_metric_value;

const PACKETS: &str = "trickles_balancer_packets_total";

/// Datagrams sent to backends `r0`, `r1`, ... so far.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendCounters {
    to_backend: Vec<f64>,
}

impl BackendCounters {
    /// Reads the counters of `backends` backends from the balancer (`None` if it does not
    /// answer).
    pub fn read(balancer: &BalancerProcess, backends: usize) -> Option<Self> {
        balancer.metrics().map(|text| Self::parse(&text, backends))
    }

    /// The counters in a `/metrics` text (a backend without a sample has sent nothing yet).
    pub fn parse(metrics: &str, backends: usize) -> Self {
        let to_backend = (0..backends)
            .map(|i| {
                let name = format!("r{i}");
                labelled_metric_value(
                    metrics,
                    PACKETS,
                    &[("backend", name.as_str()), ("direction", "to_backend")],
                )
                .unwrap_or(0.0)
            })
            .collect();
        BackendCounters { to_backend }
    }

    /// Zero for every backend (the reading before the transfer).
    pub fn zero(backends: usize) -> Self {
        BackendCounters {
            to_backend: vec![0.0; backends],
        }
    }

    /// The backend whose count grew most since `earlier`, if any grew.
    pub fn busiest_since(&self, earlier: &BackendCounters) -> Option<usize> {
        self.to_backend
            .iter()
            .zip(&earlier.to_backend)
            .map(|(now, before)| now - before)
            .enumerate()
            .filter(|&(_, grown)| grown > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_that_grew_most_served() {
        let text = |r0: u32, r1: u32, r2: u32| {
            format!(
                "{PACKETS}{{backend=\"r0\",direction=\"to_backend\"}} {r0}\n\
                 {PACKETS}{{backend=\"r0\",direction=\"to_client\"}} 99999\n\
                 {PACKETS}{{backend=\"r1\",direction=\"to_backend\"}} {r1}\n\
                 {PACKETS}{{backend=\"r2\",direction=\"to_backend\"}} {r2}\n"
            )
        };
        let before = BackendCounters::parse(&text(5, 900, 3), 3);
        let after = BackendCounters::parse(&text(700, 901, 3), 3);
        assert_eq!(before.busiest_since(&BackendCounters::zero(3)), Some(1));
        assert_eq!(after.busiest_since(&before), Some(0));
        assert_eq!(after.busiest_since(&after), None);
        assert_eq!(
            BackendCounters::parse("", 2),
            BackendCounters::zero(2),
            "no samples yet"
        );
    }
}
