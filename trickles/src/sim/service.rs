//! A service address in front of a pool of replicas, as a per-packet load balancer would do.
//!
//! Packets sent to the service address are handed to one replica chosen by a
//! [`ReplicaPolicy`] when they arrive. Replicas answer from their *own* addresses, so a client
//! sees replies from several sources for one connection. With `skip_down_replicas` the
//! balancer is health-aware and never picks a crashed replica; without it (the default) a
//! crashed replica keeps receiving its share, which is lost.

use std::net::SocketAddr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How the service picks the replica for each arriving packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaPolicy {
    /// Always the replica at this index of the pool (in the order replicas were added).
    Fixed(usize),
    /// The next replica of the pool for every packet, cycling.
    RoundRobin,
    /// A uniformly random replica for every packet (drawn from the service's seeded source).
    Random,
}

/// Configuration of a service address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceConfig {
    /// Replica selection policy.
    pub policy: ReplicaPolicy,
    /// Whether crashed replicas are skipped (a health-checking balancer).
    pub skip_down_replicas: bool,
}

impl ServiceConfig {
    /// A service with `policy` that does not know which replicas are down.
    pub fn new(policy: ReplicaPolicy) -> Self {
        Self {
            policy,
            skip_down_replicas: false,
        }
    }
}

/// A service address and its replica pool.
#[derive(Clone, Debug)]
pub struct Service {
    config: ServiceConfig,
    replicas: Vec<SocketAddr>,
    next_round_robin: usize,
    rng: ChaCha8Rng,
}

impl Service {
    /// An empty pool with `config`, drawing random choices from `rng`.
    pub fn new(config: ServiceConfig, rng: ChaCha8Rng) -> Self {
        Self {
            config,
            replicas: Vec::new(),
            next_round_robin: 0,
            rng,
        }
    }

    /// Add a replica address to the pool.
    pub fn add_replica(&mut self, replica: SocketAddr) {
        self.replicas.push(replica);
    }

    /// The replicas, in the order they were added.
    pub fn replicas(&self) -> &[SocketAddr] {
        &self.replicas
    }

    /// Change the selection policy from now on.
    pub fn set_config(&mut self, config: ServiceConfig) {
        self.config = config;
    }

    /// Pick the replica for one packet. `is_up` tells whether a replica is running; it only
    /// matters when the service skips down replicas. `None` if no replica can be chosen.
    pub fn choose(&mut self, is_up: impl Fn(SocketAddr) -> bool) -> Option<SocketAddr> {
        let count = self.replicas.len();
        if count == 0 {
            return None;
        }
        let acceptable = |addr: SocketAddr| !self.config.skip_down_replicas || is_up(addr);
        match self.config.policy {
            ReplicaPolicy::Fixed(index) => self
                .replicas
                .get(index)
                .copied()
                .filter(|&addr| acceptable(addr)),
            ReplicaPolicy::RoundRobin => {
                for _ in 0..count {
                    let candidate = self.replicas[self.next_round_robin % count];
                    self.next_round_robin = (self.next_round_robin + 1) % count;
                    if acceptable(candidate) {
                        return Some(candidate);
                    }
                }
                None
            }
            ReplicaPolicy::Random => {
                let up: Vec<SocketAddr> = self
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&addr| acceptable(addr))
                    .collect();
                if up.is_empty() {
                    return None;
                }
                Some(up[self.rng.gen_range(0..up.len())])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pool(config: ServiceConfig, size: u16) -> Service {
        let mut service = Service::new(config, ChaCha8Rng::seed_from_u64(5));
        for port in 0..size {
            service.add_replica(SocketAddr::from(([10, 0, 0, 1], 9000 + port)));
        }
        service
    }

    fn ports(service: &mut Service, picks: usize, is_up: impl Fn(SocketAddr) -> bool) -> Vec<u16> {
        (0..picks)
            .filter_map(|_| service.choose(&is_up))
            .map(|addr| addr.port())
            .collect()
    }

    #[test]
    fn round_robin_cycles_through_replicas() {
        let mut service = pool(ServiceConfig::new(ReplicaPolicy::RoundRobin), 3);
        assert_eq!(
            ports(&mut service, 7, |_| true),
            vec![9000, 9001, 9002, 9000, 9001, 9002, 9000]
        );
    }

    #[test]
    fn fixed_policy_always_picks_the_same_replica() {
        let mut service = pool(ServiceConfig::new(ReplicaPolicy::Fixed(1)), 3);
        assert_eq!(ports(&mut service, 3, |_| true), vec![9001, 9001, 9001]);
        let mut out_of_range = pool(ServiceConfig::new(ReplicaPolicy::Fixed(3)), 3);
        assert_eq!(out_of_range.choose(|_| true), None);
    }

    #[test]
    fn health_aware_round_robin_skips_down_replicas() {
        let config = ServiceConfig {
            policy: ReplicaPolicy::RoundRobin,
            skip_down_replicas: true,
        };
        let mut service = pool(config, 3);
        let picks = ports(&mut service, 4, |addr| addr.port() != 9001);
        assert_eq!(picks, vec![9000, 9002, 9000, 9002]);
        assert_eq!(service.choose(|_| false), None);
    }

    #[test]
    fn unaware_service_still_picks_down_replicas() {
        let mut service = pool(ServiceConfig::new(ReplicaPolicy::RoundRobin), 2);
        assert_eq!(ports(&mut service, 2, |_| false), vec![9000, 9001]);
    }

    #[test]
    fn random_policy_uses_every_replica() {
        let mut service = pool(ServiceConfig::new(ReplicaPolicy::Random), 3);
        let picks = ports(&mut service, 300, |_| true);
        for port in 9000..9003 {
            let share = picks.iter().filter(|&&p| p == port).count();
            assert!(
                (70..=130).contains(&share),
                "port {port} picked {share} times"
            );
        }
    }
}
