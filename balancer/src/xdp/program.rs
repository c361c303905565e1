//! [`XdpBalancer`]: the loaded XDP object, its maps and its attachments.
//!
//! Loading (the verifier runs), the VIPs and the gateway, attaching, the counters. Publishing a
//! table is in [`super::publish`], running a program on a frame in [`super::test_run`].
//! Dropping the value detaches every program it attached.

use std::net::{IpAddr, SocketAddr};

use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::XdpMode;
use aya::Ebpf;

use super::abi::{self, Config, Endpoint, VipPort};
use super::counters::CounterSnapshot;
use super::error::XdpError;
use super::object::{
    balancer_object, BALANCER_PROGRAM, DROP_PROGRAM, FORWARD_ONLY_PROGRAM, GENERATE_PROGRAM,
    PASS_PROGRAM,
};
pub(super) use trickles_xdp::kit::open_map;
use trickles_xdp::kit::{load_programs, program_mut};
use trickles_xdp::mapped_slots::MappedSlots;

/// The loaded XDP datapath.
pub struct XdpBalancer {
    /// Declared first: unmapped before the object (and the map) goes.
    pub(super) maglev: MappedSlots,
    pub(super) ebpf: Ebpf,
    pub(super) config: Config,
    pub(super) published: bool,
    /// Per generation: its backend-index keys, backend count, upstream keys.
    pub(super) index_keys: [Vec<Endpoint>; 2],
    pub(super) backend_count: [u32; 2],
    pub(super) upstream_keys: [Vec<Endpoint>; 2],
    vip_ports: Vec<u16>,
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
        load_programs(
            &mut ebpf,
            &[
                BALANCER_PROGRAM,
                FORWARD_ONLY_PROGRAM,
                PASS_PROGRAM,
                DROP_PROGRAM,
                GENERATE_PROGRAM,
            ],
        )?;
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
            vip_ports: Vec::new(),
            attached: Vec::new(),
        };
        balancer.write_config()?;
        Ok(balancer)
    }

    /// The addresses the balancer answers on (one IPv4 and one IPv6 address per port): frames
    /// to anything else pass untouched.
    pub fn set_vips(&mut self, vips: &[SocketAddr]) -> Result<(), XdpError> {
        let mut ports: std::collections::BTreeMap<u16, VipPort> = Default::default();
        for vip in vips {
            let entry = ports.entry(vip.port()).or_default();
            let (bit, taken) = match vip.ip() {
                IpAddr::V4(ip) => {
                    let taken = entry.families & abi::VIP_IPV4 != 0;
                    entry.v4 = ip.octets();
                    (abi::VIP_IPV4, taken)
                }
                IpAddr::V6(ip) => {
                    let taken = entry.families & abi::VIP_IPV6 != 0;
                    entry.v6 = ip.octets();
                    (abi::VIP_IPV6, taken)
                }
            };
            if taken {
                return Err(XdpError::Unsupported(format!(
                    "two listen addresses of one family on port {} (one IPv4 and one IPv6 VIP \
                     per port)",
                    vip.port()
                )));
            }
            entry.families |= bit;
        }
        let mut map: Array<&mut MapData, VipPort> = open_map(&mut self.ebpf, "trk_vip_ports")?;
        for old in self.vip_ports.drain(..) {
            map.set(u32::from(old), VipPort::default(), 0)
                .map_err(XdpError::map("trk_vip_ports: clear"))?;
        }
        for (port, entry) in ports {
            map.set(u32::from(port), entry, 0)
                .map_err(XdpError::map("trk_vip_ports: set"))?;
            self.vip_ports.push(port);
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

    pub(super) fn write_config(&mut self) -> Result<(), XdpError> {
        let config = self.config;
        let mut map: Array<&mut MapData, Config> = open_map(&mut self.ebpf, "trk_config")?;
        map.set(0, config, 0)
            .map_err(XdpError::map("trk_config: set"))
    }
}
