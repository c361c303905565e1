//! [`ForwardingTable`]: everything a datapath worker needs to decide where a datagram goes,
//! built by the control plane from the configuration and the backends' health, published
//! whole (see `trickles_netfn::Published`) and never modified afterwards.
//!
//! It lists **every configured backend**, including those that are down or drained: their
//! replies still in flight must be relayed to clients, and only configured backends are trusted
//! to send encapsulated replies. Only backends that are up and not drained are *in the table*,
//! i.e. receive new datagrams (by Maglev or by spraying).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::maglev::{MaglevBackend, MaglevError, MaglevTable};

/// Pools up to this size find a source address by scanning (faster than hashing it; every
/// client datagram asks).
const LINEAR_SCAN_MAX: usize = 16;

/// How a client datagram picks its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Maglev consistent hashing on the connection id: a connection sticks to a replica.
    Maglev,
    /// Per-packet smooth weighted round robin.
    RoundRobin,
    /// Per-packet choice of the backend with the least recent load per unit of weight.
    LeastLoaded,
}

impl Policy {
    /// True for the per-packet spraying policies.
    pub fn sprays(self) -> bool {
        !matches!(self, Policy::Maglev)
    }
}

/// How replies reach clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForwardingMode {
    /// Replicas send replies back encapsulated; the balancer relays them to the client (works
    /// unprivileged, on loopback).
    Relay,
    /// Replicas answer the client directly from the VIP (direct server return).
    DirectReturn,
}

/// One configured backend and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableBackend {
    /// Configured name (label in metrics, identity for Maglev).
    pub name: String,
    /// Where its datagrams go, and where its replies come from.
    pub address: SocketAddr,
    /// Relative share of new traffic.
    pub weight: u32,
    /// Its health checks say it is up.
    pub up: bool,
    /// Drained by configuration: keeps relaying its replies, gets nothing new.
    pub drained: bool,
}

impl TableBackend {
    /// Receives new datagrams.
    pub fn in_table(&self) -> bool {
        self.up && !self.drained
    }
}

/// The whole forwarding state (immutable once built).
#[derive(Clone, Debug)]
pub struct ForwardingTable {
    /// Every configured backend, in configuration order.
    pub backends: Vec<TableBackend>,
    /// Backend selection.
    pub policy: Policy,
    /// Reply path.
    pub mode: ForwardingMode,
    /// Backend addresses in `backends` order, scanned when the pool is small.
    addresses: Vec<SocketAddr>,
    /// Address → backend, for large pools.
    by_address: HashMap<SocketAddr, u32>,
    /// Backends in the table (indices into `backends`).
    active: Vec<u32>,
    maglev: MaglevTable,
    /// Maglev index (sorted names) → index into `backends`.
    maglev_to_backend: Vec<u32>,
    /// Relays in front of the balancer (packet mirrors) trusted to send encapsulated datagrams.
    upstreams: Vec<SocketAddr>,
    /// The pool key of the hop tags (`pool_key:`), if any.
    pool_key: Option<trickles_netfn::PoolKey>,
}

impl ForwardingTable {
    /// Build from the backends (with their states), the policy, the mode and the Maglev table
    /// size (prime). Fails only on an invalid size, a duplicate name or a zero weight, which
    /// configuration validation has already excluded.
    pub fn build(
        backends: Vec<TableBackend>,
        policy: Policy,
        mode: ForwardingMode,
        table_size: u32,
    ) -> Result<ForwardingTable, MaglevError> {
        let addresses: Vec<SocketAddr> = backends.iter().map(|b| b.address).collect();
        let by_address = if addresses.len() > LINEAR_SCAN_MAX {
            addresses
                .iter()
                .enumerate()
                .map(|(i, a)| (*a, i as u32))
                .collect()
        } else {
            HashMap::new()
        };
        let active: Vec<u32> = (0..backends.len() as u32)
            .filter(|&i| backends[i as usize].in_table())
            .collect();
        let members: Vec<MaglevBackend> = active
            .iter()
            .map(|&i| MaglevBackend {
                name: backends[i as usize].name.clone(),
                weight: backends[i as usize].weight,
            })
            .collect();
        let maglev = MaglevTable::build(&members, table_size)?;
        let maglev_to_backend = maglev
            .names()
            .iter()
            .map(|name| {
                active
                    .iter()
                    .copied()
                    .find(|&i| &backends[i as usize].name == name)
                    .unwrap_or(0)
            })
            .collect();
        Ok(ForwardingTable {
            backends,
            policy,
            mode,
            addresses,
            by_address,
            active,
            maglev,
            maglev_to_backend,
            upstreams: Vec::new(),
            pool_key: None,
        })
    }

    /// The same table, tagging what it forwards and requiring the tag on replies with `key`
    /// (`docs/NETWORK-FUNCTIONS.md` §2.2).
    pub fn with_pool_key(mut self, key: Option<trickles_netfn::PoolKey>) -> Self {
        self.pool_key = key;
        self
    }

    /// The pool key, if any.
    pub fn pool_key(&self) -> Option<&trickles_netfn::PoolKey> {
        self.pool_key.as_ref()
    }

    /// The same table, trusting encapsulated datagrams from these relays (mirrors) in front.
    pub fn with_upstreams(mut self, upstreams: Vec<SocketAddr>) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// The configured upstream relays.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// The table hashing connection ids with `key` before the Maglev lookup
    /// ([`super::conn_hash`]).
    pub fn with_hash_key(mut self, key: super::conn_hash::ConnHashKey) -> Self {
        self.maglev = self.maglev.with_key(key);
        self
    }

    /// True when `address` is a configured upstream relay.
    pub fn is_upstream(&self, address: SocketAddr) -> bool {
        self.upstreams.contains(&address)
    }

    /// The configured backend that owns `address`, if any.
    pub fn backend_at(&self, address: SocketAddr) -> Option<u32> {
        if self.addresses.len() > LINEAR_SCAN_MAX {
            return self.by_address.get(&address).copied();
        }
        self.addresses
            .iter()
            .position(|a| *a == address)
            .map(|i| i as u32)
    }

    /// Backends that receive new datagrams (indices into `backends`, configuration order).
    pub fn active(&self) -> &[u32] {
        &self.active
    }

    /// The Maglev table of the active backends.
    pub fn maglev(&self) -> &MaglevTable {
        &self.maglev
    }

    /// Every Maglev slot's backend, as an index into `backends` (what an XDP datapath copies
    /// into its table).
    pub fn maglev_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.maglev
            .entries()
            .iter()
            .map(|&m| self.maglev_to_backend.get(m as usize).copied().unwrap_or(0))
    }

    /// The backend (index into `backends`) Maglev picks for a connection id.
    pub fn maglev_backend(&self, conn_id: u64) -> Option<u32> {
        self.maglev
            .lookup(conn_id)
            .and_then(|m| self.maglev_to_backend.get(m as usize).copied())
    }
}
