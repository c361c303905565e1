//! One download through a drop-tail bottleneck — the situation of the lab's throughput
//! experiment, in the simulator — and the figures that say where its time went.
//!
//! A [`Bottleneck`] is one client fetching one object from one replica. Toward the client the
//! path is a FIFO of `queue_bytes` drained at `rate_bps` (tail drop beyond), then `one_way`
//! of propagation; requests take `one_way` back, unshaped (as in the testbed, where the token
//! bucket sits on the router port toward the clients).
//!
//! The [`BottleneckReport`] compares the goodput with the best Trickles can do on that link:
//! every full data packet carries `mss` stream bytes in a datagram of `mss` plus the fixed
//! RESPONSE header, the continuation and the user continuation
//! ([`BottleneckReport::overhead_bound`]; the simulated link counts UDP payload bytes). The
//! utilisation is the goodput over `rate × bound`, so 1.0 means the link never idled nor
//! carried a byte that had to be sent again. It also gives the retransmission timeouts, the
//! losses and the longest time the in-order stream stood still.

use std::fmt;

use trickles_link::LinkConfig;

use super::scenario::{Scenario, OBJECT_NAME};
use super::scenario_outcome::ScenarioOutcome;
use crate::time::{Duration, Instant};
use crate::wire::continuation::{CONT_FIXED_LEN, TAG_LEN};
use crate::wire::response::RESPONSE_FIXED_LEN;

/// One flow through a drop-tail bottleneck.
#[derive(Clone, Debug, PartialEq)]
pub struct Bottleneck {
    /// Seed of the run (keys, object bytes).
    pub seed: u64,
    /// Bottleneck rate toward the client, bits per second.
    pub rate_bps: u64,
    /// Bottleneck buffer, bytes (the packet being serialized included).
    pub queue_bytes: usize,
    /// Propagation delay each way.
    pub one_way: Duration,
    /// Size of the object fetched.
    pub object_len: usize,
    /// Stream bytes per data packet (the server's `mss`).
    pub mss: u16,
}

impl Bottleneck {
    /// The testbed's reduced throughput point: 20 Mbit/s, a 128 KiB queue, 0.1 ms round trip,
    /// 8 MiB, `mss` 1280.
    pub fn testbed() -> Self {
        Bottleneck {
            seed: 1,
            rate_bps: 20_000_000,
            queue_bytes: 128 << 10,
            one_way: Duration(50),
            object_len: 8 << 20,
            mss: 1280,
        }
    }

    /// The scenario that runs it.
    pub fn scenario(&self) -> Scenario {
        let mut s = Scenario::new(self.seed);
        s.object_len = self.object_len;
        s.server.mss = self.mss;
        // One request per packet, for the whole freshness window: a filter sized for fewer
        // would refuse fresh requests as replays (false positives), which look like losses.
        s.server.replay_capacity = 1 << 22;
        s.client_to_service = LinkConfig::with_delay(self.one_way);
        s.replica_to_client = LinkConfig {
            delay: self.one_way,
            rate_bps: Some(self.rate_bps),
            queue_limit_bytes: Some(self.queue_bytes),
            ..LinkConfig::default()
        };
        s.max_events = 100 * self.object_len as u64 / u64::from(self.mss.max(1)) + 100_000;
        s
    }

    /// Run it.
    pub fn run(&self) -> BottleneckReport {
        BottleneckReport::new(self, self.scenario().run())
    }
}

/// What one bottleneck run achieved.
#[derive(Clone, Debug)]
pub struct BottleneckReport {
    /// The run.
    pub bottleneck: Bottleneck,
    /// The scenario's outcome (client and link counters).
    pub outcome: ScenarioOutcome,
}

impl BottleneckReport {
    fn new(bottleneck: &Bottleneck, outcome: ScenarioOutcome) -> Self {
        BottleneckReport {
            bottleneck: bottleneck.clone(),
            outcome,
        }
    }

    /// Stream bytes over datagram bytes of a full data packet: the most a Trickles transfer
    /// can get out of the link.
    pub fn overhead_bound(&self) -> f64 {
        let mss = f64::from(self.bottleneck.mss);
        let header = RESPONSE_FIXED_LEN + CONT_FIXED_LEN + OBJECT_NAME.len() + TAG_LEN;
        mss / (mss + header as f64)
    }

    /// Time from the HELLO to the last byte, if the transfer completed byte-exact.
    pub fn completion(&self) -> Option<Duration> {
        self.outcome.completion_time()
    }

    /// Goodput in bits per second (0 if the transfer did not complete).
    pub fn goodput_bps(&self) -> f64 {
        self.completion().map_or(0.0, |d| {
            self.bottleneck.object_len as f64 * 8.0 / (d.micros().max(1) as f64 / 1e6)
        })
    }

    /// Goodput over the link rate times the overhead bound.
    pub fn utilisation(&self) -> f64 {
        self.goodput_bps() / (self.bottleneck.rate_bps as f64 * self.overhead_bound())
    }

    /// Retransmission timeouts (slow-start restarts).
    pub fn timeouts(&self) -> u64 {
        self.outcome.client.timeouts
    }

    /// The longest time the in-order stream did not grow.
    pub fn longest_stall(&self) -> Duration {
        let mut last = Instant(0);
        let mut longest = Duration::ZERO;
        for p in &self.outcome.progress {
            longest = longest.max(p.at.saturating_since(last));
            last = p.at;
        }
        longest
    }
}

impl fmt::Display for BottleneckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bottleneck;
        let c = &self.outcome.client;
        writeln!(
            f,
            "{} Mbit/s, queue {} B, RTT {:.1} ms, {} B, mss {}: {}",
            b.rate_bps as f64 / 1e6,
            b.queue_bytes,
            b.one_way.micros() as f64 * 2.0 / 1000.0,
            b.object_len,
            b.mss,
            match self.completion() {
                Some(d) => format!("done in {:.3} s", d.micros() as f64 / 1e6),
                None => "did not complete".to_owned(),
            }
        )?;
        writeln!(
            f,
            "goodput {:.2} Mbit/s = {:.3} of the rate; overhead bound {:.3}; utilisation {:.3}",
            self.goodput_bps() / 1e6,
            self.goodput_bps() / b.rate_bps as f64,
            self.overhead_bound(),
            self.utilisation()
        )?;
        write!(
            f,
            "{} timeouts, {} losses declared, {} retransmissions, {} queue drops, longest \
             stall {:.1} ms",
            c.timeouts,
            c.loss_events,
            c.retransmissions,
            self.outcome.links.dropped_queue_full,
            self.longest_stall().micros() as f64 / 1000.0
        )
    }
}
