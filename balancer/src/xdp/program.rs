//! [`XdpBalancer`]: the loaded XDP object, its maps and its attachments.
//!
//! [`XdpBalancer::publish`] writes a [`ForwardingTable`] into the generation that is *not* in
//! force (Maglev slots, backend addresses and their index, upstream relays, the mode), then
//! flips `trk_config.generation`: frames see the old table or the new one, never a mix, and
//! the program stays attached. The Maglev slots are written through a memory mapping
//! ([`MappedSlots`]). Dropping the value detaches every program it attached.

use std::net::SocketAddr;
use std::time::Duration;

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};
use aya::Ebpf;

use super::abi::{self, Config, Endpoint, Generation};
use super::counters::CounterSnapshot;
use super::error::XdpError;
use super::mapped_slots::MappedSlots;
use super::object::{balancer_object, BALANCER_PROGRAM, FORWARD_ONLY_PROGRAM, PASS_PROGRAM};
use crate::core::{ForwardingMode, ForwardingTable, Policy};

/// What one program test-run gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The XDP action (`XDP_DROP` 1, `XDP_PASS` 2, `XDP_TX` 3, `XDP_REDIRECT` 4).
    pub action: u32,
    /// Bytes of the output frame written.
    pub len: usize,
    /// Mean time per run, as the kernel measured it.
    pub duration: Duration,
}

/// XDP actions, as the kernel numbers them.
pub mod action {
    /// Error in the program.
    pub const ABORTED: u32 = 0;
    /// Dropped.
    pub const DROP: u32 = 1;
    /// Up to the kernel's stack (the userspace datapath).
    pub const PASS: u32 = 2;
    /// Back out of the receiving device.
    pub const TX: u32 = 3;
    /// Out of another device.
    pub const REDIRECT: u32 = 4;
}

/// The loaded XDP datapath.
pub struct XdpBalancer {
    /// Declared first: unmapped before the object (and the map) goes.
    maglev: MappedSlots,
    ebpf: Ebpf,
    config: Config,
    published: bool,
    /// Per generation: its backend-index keys, backend count, upstream keys.
    index_keys: [Vec<Endpoint>; 2],
    backend_count: [u32; 2],
    upstream_keys: [Vec<Endpoint>; 2],
    vips: Vec<Endpoint>,
    attached: Vec<String>,
}

impl std::fmt::Debug for XdpBalancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpBalancer")
            .field("generation", &self.config.generation)
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

impl XdpBalancer {
    /// Load the object and its programs (the verifier runs here). Needs `CAP_BPF`.
    pub fn load() -> Result<Self, XdpError> {
        let object = balancer_object().ok_or(XdpError::NotBuilt)?;
        let mut ebpf = Ebpf::load(object)?;
        for name in [BALANCER_PROGRAM, FORWARD_ONLY_PROGRAM, PASS_PROGRAM] {
            program_mut(&mut ebpf, name)?
                .load()
                .map_err(XdpError::program(format!("{name}: load")))?;
        }
        let maglev = match ebpf.map("trk_maglev") {
            Some(aya::maps::Map::Array(data)) => {
                MappedSlots::map(data.fd(), (abi::GENERATIONS * abi::MAX_TABLE_SIZE) as usize)?
            }
            _ => {
                return Err(XdpError::Unsupported(
                    "no array trk_maglev in the object".into(),
                ))
            }
        };
        let mut balancer = XdpBalancer {
            maglev,
            ebpf,
            config: Config::default(),
            published: false,
            index_keys: [Vec::new(), Vec::new()],
            backend_count: [0; 2],
            upstream_keys: [Vec::new(), Vec::new()],
            vips: Vec::new(),
            attached: Vec::new(),
        };
        balancer.write_config()?;
        Ok(balancer)
    }

    /// The addresses the balancer answers on: frames to anything else pass untouched.
    pub fn set_vips(&mut self, vips: &[SocketAddr]) -> Result<(), XdpError> {
        if vips.len() > abi::MAX_VIPS as usize {
            return Err(XdpError::Unsupported(format!(
                "{} listen addresses (at most {})",
                vips.len(),
                abi::MAX_VIPS
            )));
        }
        let mut map: HashMap<&mut MapData, Endpoint, u32> = open_map(&mut self.ebpf, "trk_vips")?;
        for old in self.vips.drain(..) {
            let _ = map.remove(&old);
        }
        for vip in vips {
            let key = Endpoint::new(*vip, 0);
            map.insert(key, 1, 0)
                .map_err(XdpError::map("trk_vips: insert"))?;
            self.vips.push(key);
        }
        Ok(())
    }

    /// Gateway mode: every rewritten frame goes back out of its receiving device to `mac`
    /// (`XDP_TX`) without a FIB lookup; `None`: the kernel's FIB decides.
    pub fn set_gateway(&mut self, mac: Option<[u8; 6]>) -> Result<(), XdpError> {
        match mac {
            Some(mac) => {
                self.config.flags |= abi::CONFIG_GATEWAY;
                self.config.gateway_mac = mac;
            }
            None => {
                self.config.flags &= !abi::CONFIG_GATEWAY;
                self.config.gateway_mac = [0; 6];
            }
        }
        self.write_config()
    }

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
        self.published = true;
        self.write_config()
    }

    /// The generation in force.
    pub fn generation(&self) -> u32 {
        self.config.generation
    }

    /// The backend index in slot `slot` of the generation in force (what the program reads).
    pub fn slot(&self, slot: usize) -> u32 {
        self.maglev
            .get((self.config.generation * abi::MAX_TABLE_SIZE) as usize + slot)
    }

    /// Attach the balancer's program to `interface` (`XdpMode::Driver`: native XDP).
    pub fn attach(&mut self, interface: &str, mode: XdpMode) -> Result<(), XdpError> {
        self.attach_program(BALANCER_PROGRAM, interface, mode)
    }

    /// Attach one of the object's programs (the benchmarks attach the forward-only and pass
    /// programs) to `interface`.
    pub fn attach_program(
        &mut self,
        name: &str,
        interface: &str,
        mode: XdpMode,
    ) -> Result<(), XdpError> {
        program_mut(&mut self.ebpf, name)?
            .attach(interface, mode)
            .map_err(XdpError::program(format!(
                "{name}: attach to {interface} ({mode:?} mode)"
            )))?;
        self.attached.push(interface.to_owned());
        Ok(())
    }

    /// Interfaces a program was attached to (detached when this value drops).
    pub fn attached(&self) -> &[String] {
        &self.attached
    }

    /// Run the balancer's program once on `frame` (`BPF_PROG_TEST_RUN`), writing the output
    /// frame into `out`; `repeat` > 1 measures the mean time per run.
    pub fn test_run(
        &self,
        frame: &[u8],
        out: &mut [u8],
        repeat: u32,
    ) -> Result<TestRunOutcome, XdpError> {
        self.test_run_program(BALANCER_PROGRAM, frame, out, repeat)
    }

    /// [`XdpBalancer::test_run`] for any program of the object.
    pub fn test_run_program(
        &self,
        name: &str,
        frame: &[u8],
        out: &mut [u8],
        repeat: u32,
    ) -> Result<TestRunOutcome, XdpError> {
        let program: &Xdp = self
            .ebpf
            .program(name)
            .ok_or_else(|| XdpError::Unsupported(format!("no program {name} in the object")))?
            .try_into()
            .map_err(XdpError::program(format!("{name}: type")))?;
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(out),
                repeat: repeat.max(1),
                ..TestRunOptions::default()
            })
            .map_err(XdpError::program(format!("{name}: test run")))?;
        Ok(TestRunOutcome {
            action: result.return_value,
            len: result.data_size_out as usize,
            duration: result.duration,
        })
    }

    /// The counters summed over CPUs: the first `backends` backend slots, the drops and the
    /// passes.
    pub fn counters(&self, backends: usize) -> Result<CounterSnapshot, XdpError> {
        let map = self
            .ebpf
            .map("trk_counters")
            .ok_or_else(|| XdpError::Unsupported("no map trk_counters in the object".into()))?;
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(XdpError::map("trk_counters: open"))?;
        let read = |index: u32| -> Result<u64, XdpError> {
            let values = counters
                .get(&index, 0)
                .map_err(XdpError::map("trk_counters: read"))?;
            Ok(values.iter().copied().fold(0u64, u64::wrapping_add))
        };
        let mut snapshot = CounterSnapshot::new(backends.min(abi::MAX_BACKENDS as usize));
        for (i, b) in snapshot.backends.iter_mut().enumerate() {
            let base = i as u32 * abi::COUNTERS_PER_BACKEND;
            b.to_backend_packets = read(base + abi::CTR_TO_BACKEND_PACKETS)?;
            b.to_backend_bytes = read(base + abi::CTR_TO_BACKEND_BYTES)?;
            b.to_client_packets = read(base + abi::CTR_TO_CLIENT_PACKETS)?;
            b.to_client_bytes = read(base + abi::CTR_TO_CLIENT_BYTES)?;
        }
        for (i, d) in snapshot.drops.iter_mut().enumerate() {
            *d = read(abi::DROP_BASE + i as u32)?;
        }
        for (i, p) in snapshot.passed.iter_mut().enumerate() {
            *p = read(abi::PASS_BASE + i as u32)?;
        }
        Ok(snapshot)
    }

    fn write_config(&mut self) -> Result<(), XdpError> {
        let config = self.config;
        let mut map: Array<&mut MapData, Config> = open_map(&mut self.ebpf, "trk_config")?;
        map.set(0, config, 0)
            .map_err(XdpError::map("trk_config: set"))
    }
}

fn open_map<'a, M>(ebpf: &'a mut Ebpf, name: &str) -> Result<M, XdpError>
where
    M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map_mut(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no map {name} in the object")))?;
    M::try_from(map).map_err(XdpError::map(format!("{name}: open")))
}

fn program_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, XdpError> {
    ebpf.program_mut(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no program {name} in the object")))?
        .try_into()
        .map_err(XdpError::program(format!("{name}: type")))
}
