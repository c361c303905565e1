//! [`PoolState`]: the configured pool and each backend's health, and the [`ForwardingTable`] they
//! make. Pure (no I/O, no clock): the control plane feeds it probe outcomes and configurations.
//!
//! A reload keeps the health of every backend whose name and address are unchanged, so
//! reloading never takes a healthy backend out of the table; a new backend starts down and joins
//! at its first answered probe. A drained backend keeps being probed (its state is reported)
//! but gets nothing new.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::config::BalancerConfig;
use crate::core::{
    ConnHashKey, ForwardingTable, HealthState, MaglevError, ProbeOutcome, TableBackend, Transition,
};

/// The pool as the control plane knows it.
#[derive(Clone, Debug)]
pub struct PoolState {
    config: BalancerConfig,
    health: HashMap<String, (SocketAddr, HealthState)>,
    reported: HashSet<String>,
    /// Keys the connection-id hash when the configuration sets no `hash_key`: drawn once per
    /// process, kept across reloads.
    process_key: ConnHashKey,
}

impl PoolState {
    /// A pool whose backends are all down, waiting for their first probe.
    pub fn new(config: BalancerConfig) -> Self {
        if config.hash_key.is_none() {
            tracing::info!(
                "no hash_key: connection ids are hashed with a random key of this process \
                 (set hash_key to share one across the balancers of a pool)"
            );
        }
        let mut state = PoolState {
            config,
            health: HashMap::new(),
            reported: HashSet::new(),
            process_key: ConnHashKey::random(),
        };
        state.sync_health();
        state
    }

    /// The configuration in force.
    pub fn config(&self) -> &BalancerConfig {
        &self.config
    }

    /// Is backend `name` up?
    pub fn is_up(&self, name: &str) -> bool {
        self.health.get(name).is_some_and(|(_, h)| h.is_up())
    }

    /// True once every backend has had at least one probe outcome.
    pub fn all_reported(&self) -> bool {
        self.config
            .backends
            .iter()
            .all(|b| self.reported.contains(&b.name))
    }

    /// Account a probe outcome of backend `name` (ignored for an unknown name).
    pub fn observe(&mut self, name: &str, outcome: ProbeOutcome) -> Option<Transition> {
        let thresholds = self.config.health.thresholds;
        let (_, health) = self.health.get_mut(name)?;
        self.reported.insert(name.to_owned());
        health.observe(outcome, thresholds)
    }

    /// Switch to a new configuration, keeping the health of unchanged backends. Returns the
    /// names of the backends that were removed.
    pub fn apply(&mut self, config: BalancerConfig) -> Vec<String> {
        self.config = config;
        let removed = self.sync_health();
        self.reported.retain(|name| self.health.contains_key(name));
        removed
    }

    /// The table of the current configuration and health.
    pub fn table(&self) -> Result<ForwardingTable, MaglevError> {
        let backends = self
            .config
            .backends
            .iter()
            .map(|b| TableBackend {
                name: b.name.clone(),
                address: b.address,
                weight: b.weight,
                up: self.is_up(&b.name),
                drained: b.drain,
            })
            .collect();
        ForwardingTable::build(
            backends,
            self.config.policy,
            self.config.mode,
            self.config.table_size,
        )
        .map(|t| {
            t.with_upstreams(self.config.upstreams.clone())
                .with_pool_key(self.config.pool_key.clone())
                .with_hash_key(self.config.hash_key.unwrap_or(self.process_key))
        })
    }

    /// Make `health` hold exactly the configured backends; returns the removed names.
    fn sync_health(&mut self) -> Vec<String> {
        let thresholds = self.config.health.thresholds;
        let wanted: HashMap<&str, SocketAddr> = self
            .config
            .backends
            .iter()
            .map(|b| (b.name.as_str(), b.address))
            .collect();
        let mut removed: Vec<String> = self
            .health
            .iter()
            .filter(|(name, (address, _))| wanted.get(name.as_str()) != Some(address))
            .map(|(name, _)| name.clone())
            .collect();
        removed.sort();
        for name in &removed {
            self.health.remove(name);
            self.reported.remove(name);
        }
        for (name, address) in wanted {
            self.health
                .entry(name.to_owned())
                .or_insert_with(|| (address, HealthState::new(thresholds)));
        }
        // A name that moved to a new address counts as removed and added.
        removed.retain(|name| !self.config.backends.iter().any(|b| &b.name == name));
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_netfn::ConfigSource;

    fn config(text: &str) -> BalancerConfig {
        BalancerConfig::from_source(&ConfigSource::from_text("t.yaml", text)).expect("config")
    }

    const POOL: &str = "\
listen: [\"127.0.0.1:4433\"]
health: {rise: 1, fall: 1}
backends:
  - {name: a, address: \"127.0.0.1:5001\"}
  - {name: b, address: \"127.0.0.1:5002\"}
  - {name: c, address: \"127.0.0.1:5003\"}
";

    fn all_up(text: &str) -> PoolState {
        let mut pool = PoolState::new(config(text));
        for name in ["a", "b", "c"] {
            pool.observe(name, ProbeOutcome::Success);
        }
        pool
    }

    /// The backend of each of 1000 connection ids in `pool`'s table.
    fn mapping(pool: &PoolState) -> Vec<Option<u32>> {
        let table = pool.table().expect("table");
        (0..1_000u64).map(|id| table.maglev_backend(id)).collect()
    }

    #[test]
    fn balancers_sharing_a_hash_key_agree_and_unkeyed_ones_hash_secretly() {
        let keyed = POOL.replace(
            "health:",
            "hash_key: 0f0e0d0c0b0a09080706050403020100\nhealth:",
        );
        assert_eq!(mapping(&all_up(&keyed)), mapping(&all_up(&keyed)));
        // Without a configured key each process draws its own: the mapping is not the one
        // public constants give, and two balancers differ.
        let (one, other) = (all_up(POOL), all_up(POOL));
        assert_ne!(mapping(&one), mapping(&other));
        let public = {
            let table = one
                .table()
                .expect("table")
                .with_hash_key(ConnHashKey::public());
            (0..1_000u64)
                .map(|id| table.maglev_backend(id))
                .collect::<Vec<_>>()
        };
        assert_ne!(mapping(&one), public);
    }

    #[test]
    fn backends_join_at_their_first_answer() {
        let mut pool = PoolState::new(config(POOL));
        assert!(pool.table().expect("table").active().is_empty());
        assert!(!pool.all_reported());
        assert_eq!(
            pool.observe("b", ProbeOutcome::Success),
            Some(Transition::WentUp)
        );
        pool.observe("a", ProbeOutcome::Timeout);
        pool.observe("c", ProbeOutcome::Refused);
        assert!(pool.all_reported());
        assert_eq!(pool.table().expect("table").active(), [1]);
    }

    #[test]
    fn a_failed_backend_leaves_and_others_keep_their_slots() {
        let mut pool = all_up(POOL);
        let before = pool.table().expect("table");
        pool.observe("b", ProbeOutcome::Refused);
        let after = pool.table().expect("table");
        assert_eq!(after.active(), [0, 2]);
        // Only b's slots moved (a third of the table).
        let moved = before.maglev().moved_share(after.maglev());
        assert!((moved - 1.0 / 3.0).abs() < 0.01, "{moved}");
    }

    #[test]
    fn reload_keeps_health_of_unchanged_backends_and_drains() {
        let mut pool = all_up(POOL);
        let drained = POOL.replace(
            "{name: c, address: \"127.0.0.1:5003\"}",
            "{name: c, address: \"127.0.0.1:5003\", drain: true}",
        );
        let moved = drained.replace("5002", "5012");
        assert!(pool.apply(config(&moved)).is_empty());
        let table = pool.table().expect("table");
        // a kept its health; b moved address so starts over (down); c is drained.
        assert_eq!(table.active(), [0]);
        assert!(table.backends[2].up && table.backends[2].drained);
        assert!(!pool.all_reported());
        let removed = pool.apply(config(
            &POOL.replace("  - {name: c, address: \"127.0.0.1:5003\"}\n", ""),
        ));
        assert_eq!(removed, ["c"]);
    }
}
