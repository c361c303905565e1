//! [`XdpBalancer::publish`]: a [`ForwardingTable`] into the generation that is *not* in force
//! (Maglev slots, backend addresses and their index, upstream relays, the mode), then the flip
//! of `trk_config.generation` (and of the pool-key flag: with a key, everything goes up to the
//! userspace datapath): frames see the old table or the new one, never a mix, and the
//! program stays attached. The Maglev slots are written through a memory mapping
//! ([`super::mapped_slots::MappedSlots`]).

use aya::maps::{Array, HashMap, MapData};

use super::abi::{self, Endpoint, Generation};
use super::error::XdpError;
use super::program::{open_map, XdpBalancer};
use crate::core::{ForwardingMode, ForwardingTable, Policy};

impl XdpBalancer {
    /// True when `table` can be published: Maglev policy, sizes within the maps.
    pub fn supports(table: &ForwardingTable) -> Result<(), XdpError> {
        if table.policy != Policy::Maglev {
            return Err(XdpError::Unsupported(format!(
                "policy {:?} (per-packet spraying keeps per-worker state; XDP does maglev only)",
                table.policy
            )));
        }
        if table.maglev().size() > abi::MAX_TABLE_SIZE as usize {
            return Err(XdpError::Unsupported(format!(
                "table_size {} (at most {})",
                table.maglev().size(),
                abi::MAX_TABLE_SIZE
            )));
        }
        if table.backends.len() > abi::MAX_BACKENDS as usize {
            return Err(XdpError::Unsupported(format!(
                "{} backends (at most {})",
                table.backends.len(),
                abi::MAX_BACKENDS
            )));
        }
        if table.upstreams().len() > abi::MAX_UPSTREAMS as usize {
            return Err(XdpError::Unsupported(format!(
                "{} upstreams (at most {})",
                table.upstreams().len(),
                abi::MAX_UPSTREAMS
            )));
        }
        Ok(())
    }

    /// Write `table` into the idle generation, then put it in force.
    pub fn publish(&mut self, table: &ForwardingTable) -> Result<(), XdpError> {
        Self::supports(table)?;
        let next = if self.published {
            1 - self.config.generation
        } else {
            0
        };
        let g = next as usize;
        let generation_byte = next as u8;

        // Backend addresses, then the index from address to backend.
        let stale_end = self.backend_count[g];
        {
            let mut backends: Array<&mut MapData, Endpoint> =
                open_map(&mut self.ebpf, "trk_backends")?;
            let base = next * abi::MAX_BACKENDS;
            for (i, b) in table.backends.iter().enumerate() {
                backends
                    .set(base + i as u32, Endpoint::new(b.address, 0), 0)
                    .map_err(XdpError::map("trk_backends: set"))?;
            }
            for i in table.backends.len() as u32..stale_end {
                backends
                    .set(base + i, Endpoint::default(), 0)
                    .map_err(XdpError::map("trk_backends: clear"))?;
            }
        }
        self.backend_count[g] = table.backends.len() as u32;
        let index_keys: Vec<Endpoint> = table
            .backends
            .iter()
            .map(|b| Endpoint::new(b.address, generation_byte))
            .collect();
        let upstream_keys: Vec<Endpoint> = table
            .upstreams()
            .iter()
            .map(|u| Endpoint::new(*u, generation_byte))
            .collect();
        let old_index = std::mem::take(&mut self.index_keys[g]);
        let old_upstreams = std::mem::take(&mut self.upstream_keys[g]);
        {
            let mut index: HashMap<&mut MapData, Endpoint, u32> =
                open_map(&mut self.ebpf, "trk_backend_index")?;
            for key in old_index.iter().filter(|k| !index_keys.contains(k)) {
                let _ = index.remove(key);
            }
            for (i, key) in index_keys.iter().enumerate() {
                index
                    .insert(*key, i as u32, 0)
                    .map_err(XdpError::map("trk_backend_index: insert"))?;
            }
        }
        {
            let mut upstreams: HashMap<&mut MapData, Endpoint, u32> =
                open_map(&mut self.ebpf, "trk_upstreams")?;
            for key in old_upstreams.iter().filter(|k| !upstream_keys.contains(k)) {
                let _ = upstreams.remove(key);
            }
            for key in &upstream_keys {
                upstreams
                    .insert(*key, 1, 0)
                    .map_err(XdpError::map("trk_upstreams: insert"))?;
            }
        }
        self.index_keys[g] = index_keys;
        self.upstream_keys[g] = upstream_keys;

        // Maglev slots, through the mapping.
        let base = (next * abi::MAX_TABLE_SIZE) as usize;
        for (s, backend) in table.maglev_slots().enumerate() {
            self.maglev.set(base + s, backend);
        }
        {
            let mut generations: Array<&mut MapData, Generation> =
                open_map(&mut self.ebpf, "trk_generations")?;
            let flags = match table.mode {
                ForwardingMode::Relay => 0,
                ForwardingMode::DirectReturn => abi::GENERATION_DIRECT_RETURN,
            };
            generations
                .set(
                    next,
                    Generation {
                        table_size: table.maglev().size() as u32,
                        flags,
                        hash_k0: table.maglev().hash_key().words().0,
                        hash_k1: table.maglev().hash_key().words().1,
                    },
                    0,
                )
                .map_err(XdpError::map("trk_generations: set"))?;
        }
        self.config.generation = next;
        // With a pool key every VIP datagram goes up: the hop tags are userspace's. Set in the
        // same write as the flip, so no frame sees the new table without it.
        if table.pool_key().is_some() {
            self.config.flags |= abi::CONFIG_POOL_KEY;
        } else {
            self.config.flags &= !abi::CONFIG_POOL_KEY;
        }
        self.published = true;
        self.write_config()
    }
}
