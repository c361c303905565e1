//! [`Spray`]: the per-packet choice of the spraying policies, for one datapath worker.
//!
//! - **Round robin** is smooth weighted round robin (as in nginx): each pick adds every active
//!   backend's weight to its credit, takes the backend with the most credit and charges it the
//!   total weight. Equal weights give plain rotation; weights 1:2 give `b a b` patterns, never
//!   bursts.
//! - **Least loaded** picks the backend with the least recent load per unit of weight, where
//!   load is the bytes this worker sent to it plus, in relay mode, the bytes of the replies it
//!   relayed from it (the replies are the replica's real work). Loads are halved every
//!   [`DECAY_EVERY`] datagrams so the choice follows recent traffic.
//!
//! The state is indexed like [`ForwardingTable::backends`]; [`Spray::reset`] sizes it for a new
//! table. Deterministic: the same datagrams give the same choices.

use super::table::{ForwardingTable, Policy};

/// Datagrams between two halvings of the least-loaded counters.
pub const DECAY_EVERY: u32 = 4096;

/// Spraying state of one worker.
#[derive(Clone, Debug, Default)]
pub struct Spray {
    credit: Vec<i64>,
    load: Vec<u64>,
    since_decay: u32,
}

impl Spray {
    /// Fresh state for `table`.
    pub fn new(table: &ForwardingTable) -> Self {
        let mut spray = Spray::default();
        spray.reset(table);
        spray
    }

    /// Resize for a new table (credits and loads start over).
    pub fn reset(&mut self, table: &ForwardingTable) {
        self.credit = vec![0; table.backends.len()];
        self.load = vec![0; table.backends.len()];
        self.since_decay = 0;
    }

    /// Choose the backend for a datagram of `len` bytes under the table's spraying policy
    /// (`None` when no backend is active). Accounts the datagram as load.
    pub fn choose(&mut self, table: &ForwardingTable, len: usize) -> Option<u32> {
        if self.credit.len() != table.backends.len() {
            self.reset(table);
        }
        let chosen = match table.policy {
            Policy::LeastLoaded => self.least_loaded(table),
            Policy::RoundRobin | Policy::Maglev => self.round_robin(table),
        }?;
        self.account(chosen, len);
        Some(chosen)
    }

    /// Account bytes relayed back from `backend` (relay mode) as its load.
    pub fn account(&mut self, backend: u32, bytes: usize) {
        if let Some(load) = self.load.get_mut(backend as usize) {
            *load = load.saturating_add(bytes as u64);
        }
        self.since_decay += 1;
        if self.since_decay >= DECAY_EVERY {
            self.since_decay = 0;
            for load in &mut self.load {
                *load /= 2;
            }
        }
    }

    fn round_robin(&mut self, table: &ForwardingTable) -> Option<u32> {
        let mut best: Option<u32> = None;
        let mut total = 0i64;
        for &i in table.active() {
            let weight = i64::from(table.backends[i as usize].weight);
            total += weight;
            self.credit[i as usize] += weight;
            if best.is_none_or(|b| self.credit[i as usize] > self.credit[b as usize]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.credit[chosen as usize] -= total;
        Some(chosen)
    }

    fn least_loaded(&self, table: &ForwardingTable) -> Option<u32> {
        // load_i / w_i < load_j / w_j  ⇔  load_i · w_j < load_j · w_i (u128: no overflow).
        table.active().iter().copied().min_by(|&a, &b| {
            let (la, wa) = (self.load[a as usize], table.backends[a as usize].weight);
            let (lb, wb) = (self.load[b as usize], table.backends[b as usize].weight);
            (u128::from(la) * u128::from(wb)).cmp(&(u128::from(lb) * u128::from(wa)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::table::{ForwardingMode, TableBackend};

    fn table(policy: Policy, weights: &[u32]) -> ForwardingTable {
        let backends = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| TableBackend {
                name: format!("b{i}"),
                address: format!("127.0.0.1:{}", 5000 + i).parse().expect("addr"),
                weight,
                up: true,
                drained: false,
            })
            .collect();
        ForwardingTable::build(backends, policy, ForwardingMode::Relay, 251).expect("table")
    }

    #[test]
    fn round_robin_rotates_and_follows_weights_smoothly() {
        let t = table(Policy::RoundRobin, &[1, 1, 1]);
        let mut spray = Spray::new(&t);
        let picks: Vec<u32> = (0..6).filter_map(|_| spray.choose(&t, 100)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        let t = table(Policy::RoundRobin, &[1, 2]);
        let mut spray = Spray::new(&t);
        let picks: Vec<u32> = (0..6).filter_map(|_| spray.choose(&t, 100)).collect();
        assert_eq!(picks, [1, 0, 1, 1, 0, 1]);
    }

    #[test]
    fn least_loaded_evens_out_bytes_including_replies() {
        let t = table(Policy::LeastLoaded, &[1, 1]);
        let mut spray = Spray::new(&t);
        assert_eq!(spray.choose(&t, 100), Some(0));
        assert_eq!(spray.choose(&t, 100), Some(1));
        // Backend 0 sent a large reply: the next datagrams go to backend 1.
        spray.account(0, 1000);
        assert_eq!(spray.choose(&t, 100), Some(1));
        assert_eq!(spray.choose(&t, 100), Some(1));
    }

    #[test]
    fn nothing_active_means_no_choice() {
        let mut t = table(Policy::RoundRobin, &[1]);
        t = ForwardingTable::build(
            t.backends
                .into_iter()
                .map(|b| TableBackend { up: false, ..b })
                .collect(),
            Policy::RoundRobin,
            ForwardingMode::Relay,
            251,
        )
        .expect("table");
        assert_eq!(Spray::new(&t).choose(&t, 10), None);
    }
}
