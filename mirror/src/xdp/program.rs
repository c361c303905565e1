//! [`XdpMirror`]: the mirror's XDP program loaded, its maps written from the [`MirrorRules`] in
//! force, attached, run on frames, its counters read.
//!
//! [`XdpMirror::publish`] writes the peers, their address patterns (in configuration order,
//! with their specificity: the program picks the most specific as `PeerTable` does), their keys
//! by id, which directions are WAN-emulated (those go up to userspace) and the source limits. A publish
//! rewrites the maps in place: a frame decided during one may see the old peers with the new
//! limits, for the few microseconds the writes take.

use std::net::{IpAddr, SocketAddr};

use aya::maps::{Array, MapData};
use aya::programs::XdpMode;
use aya::Ebpf;
use trickles_link::LinkConfig;
use trickles_netfn::canonical_addr::{canonical, canonical_ip};
use trickles_xdp::kit::{load_programs, open_map, per_cpu_sum, program_mut, TestRunOutcome};
use trickles_xdp::XdpError;

use super::abi::{
    self, LocalPort, MirrorConfig, MirrorKey, Pattern, Patterns, PeerInfo, MIRROR_MAX_PATTERNS,
    MIRROR_MAX_PEERS,
};
use crate::auth::{AddressPattern, Reach, Side};
use crate::reject::Reject;
use crate::rules::MirrorRules;

/// The mirror's program in the object.
pub const MIRROR_PROGRAM: &str = "mirror_xdp";
/// `XDP_PASS` only, for the peer of a veth that receives `XDP_TX`/`XDP_REDIRECT` frames.
pub const PASS_PROGRAM: &str = "pass_xdp";

/// The counters, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XdpMirrorCounters {
    /// Datagrams the program decided on.
    pub received_packets: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// Refusals, by [`Reject::ALL`] position.
    pub rejects: [u64; Reject::COUNT],
    /// Handed up to userspace, by [`abi::PASS_NAMES`] position.
    pub passed: [u64; abi::MPASS_REASONS as usize],
    /// Per peer (configuration order): datagrams and bytes forwarded.
    pub forwarded: Vec<(u64, u64)>,
}

/// The loaded XDP datapath of the mirror.
pub struct XdpMirror {
    ebpf: Ebpf,
    config: MirrorConfig,
    local_ports: Vec<u16>,
    peers: usize,
    attached: Vec<String>,
}

impl std::fmt::Debug for XdpMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpMirror")
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

fn family_and_addr(ip: IpAddr) -> (u8, [u8; 16]) {
    let mut addr = [0u8; 16];
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            addr[..4].copy_from_slice(&v4.octets());
            (trickles_xdp::encap_abi::FAMILY_IPV4, addr)
        }
        IpAddr::V6(v6) => {
            addr.copy_from_slice(&v6.octets());
            (trickles_xdp::encap_abi::FAMILY_IPV6, addr)
        }
    }
}

impl XdpMirror {
    /// Load the object and the program (the verifier runs here). Needs `CAP_BPF`.
    pub fn load() -> Result<Self, XdpError> {
        let object = trickles_xdp::embedded_object!("mirror.bpf.o").ok_or(XdpError::NotBuilt)?;
        let mut ebpf = Ebpf::load(object)?;
        load_programs(&mut ebpf, &[MIRROR_PROGRAM, PASS_PROGRAM])?;
        let mut mirror = XdpMirror {
            ebpf,
            config: MirrorConfig {
                hash_key: [rand::random(), rand::random()],
                ..MirrorConfig::default()
            },
            local_ports: Vec::new(),
            peers: 0,
            attached: Vec::new(),
        };
        mirror.write_config()?;
        Ok(mirror)
    }

    /// The mirror's listen addresses (one IPv4 and one IPv6 address per port).
    pub fn set_locals(&mut self, locals: &[SocketAddr]) -> Result<(), XdpError> {
        let mut ports: std::collections::BTreeMap<u16, LocalPort> = Default::default();
        for local in locals {
            if local.ip().is_unspecified() {
                return Err(XdpError::Unsupported(format!(
                    "listen address {local}: the XDP program matches frames by their \
                     destination, give the address itself"
                )));
            }
            let entry = ports.entry(local.port()).or_default();
            let (bit, taken) = match canonical(*local).ip() {
                IpAddr::V4(ip) => {
                    entry.v4 = ip.octets();
                    (1, entry.families & 1 != 0)
                }
                IpAddr::V6(ip) => {
                    entry.v6 = ip.octets();
                    (2, entry.families & 2 != 0)
                }
            };
            if taken {
                return Err(XdpError::Unsupported(format!(
                    "two listen addresses of one family on port {}",
                    local.port()
                )));
            }
            entry.families |= bit;
        }
        let mut map: Array<&mut MapData, LocalPort> =
            open_map(&mut self.ebpf, "trk_mirror_locals")?;
        for old in self.local_ports.drain(..) {
            map.set(u32::from(old), LocalPort::default(), 0)
                .map_err(XdpError::map("trk_mirror_locals: clear"))?;
        }
        for (port, entry) in ports {
            map.set(u32::from(port), entry, 0)
                .map_err(XdpError::map("trk_mirror_locals: set"))?;
            self.local_ports.push(port);
        }
        Ok(())
    }

    /// Gateway mode: every forwarded frame back out of its device to `mac`; `None`: the FIB.
    pub fn set_gateway(&mut self, mac: Option<[u8; 6]>) -> Result<(), XdpError> {
        match mac {
            Some(mac) => {
                self.config.flags |= abi::MIRROR_GATEWAY;
                self.config.gateway_mac = mac;
            }
            None => {
                self.config.flags &= !abi::MIRROR_GATEWAY;
                self.config.gateway_mac = [0; 6];
            }
        }
        self.write_config()
    }

    /// `Ok` when the program can apply `rules` (sizes within its maps).
    pub fn supports(rules: &MirrorRules) -> Result<(), XdpError> {
        let peers = rules.peers.peers();
        let patterns: usize = peers.iter().map(|p| p.addresses.len()).sum();
        if peers.len() > MIRROR_MAX_PEERS as usize || patterns > MIRROR_MAX_PATTERNS as usize {
            return Err(XdpError::Unsupported(format!(
                "{} peers with {patterns} address patterns (at most {MIRROR_MAX_PEERS} and \
                 {MIRROR_MAX_PATTERNS})",
                peers.len()
            )));
        }
        let slots = rules.guard.slots.max(1).next_power_of_two();
        if slots > abi::MIRROR_GUARD_SLOTS as usize {
            return Err(XdpError::Unsupported(format!(
                "source_limits.table_slots {slots} (at most {})",
                abi::MIRROR_GUARD_SLOTS
            )));
        }
        Ok(())
    }

    /// Write `rules` into the maps.
    pub fn publish(&mut self, rules: &MirrorRules) -> Result<(), XdpError> {
        Self::supports(rules)?;
        let mut patterns = Patterns {
            p: [Pattern::default(); MIRROR_MAX_PATTERNS as usize],
        };
        let mut used = 0usize;
        let mut infos = Vec::new();
        for (index, peer) in rules.peers.peers().iter().enumerate() {
            let mut flags = 0;
            if !peer.keys.is_empty() {
                flags |= abi::PEER_HAS_KEYS;
            }
            if peer.reach == Reach::Any {
                flags |= abi::PEER_REACH_ANY;
            }
            if peer.side == Side::Server {
                flags |= abi::PEER_SERVER;
            }
            infos.push(PeerInfo { flags });
            for pattern in &peer.addresses {
                let entry = match *pattern {
                    AddressPattern::Exact(address) => {
                        let (family, addr) = family_and_addr(address.ip());
                        Pattern {
                            family,
                            prefix_len: abi::PATTERN_EXACT as u8,
                            port: u16::from_ne_bytes(address.port().to_be_bytes()),
                            peer: index as u8,
                            server: u8::from(peer.side == Side::Server),
                            rank: pattern.specificity(),
                            addr,
                        }
                    }
                    AddressPattern::Prefix { network, len } => {
                        let (family, addr) = family_and_addr(network);
                        Pattern {
                            family,
                            prefix_len: len,
                            port: 0,
                            peer: index as u8,
                            server: u8::from(peer.side == Side::Server),
                            rank: pattern.specificity(),
                            addr,
                        }
                    }
                };
                patterns.p[used] = entry;
                used += 1;
            }
        }
        {
            let mut map: Array<&mut MapData, PeerInfo> =
                open_map(&mut self.ebpf, "trk_mirror_peers")?;
            for (i, info) in infos.iter().enumerate() {
                map.set(i as u32, *info, 0)
                    .map_err(XdpError::map("trk_mirror_peers: set"))?;
            }
        }
        {
            let mut map: Array<&mut MapData, Patterns> =
                open_map(&mut self.ebpf, "trk_mirror_patterns")?;
            map.set(0, patterns, 0)
                .map_err(XdpError::map("trk_mirror_patterns: set"))?;
        }
        {
            let mut keys: Array<&mut MapData, MirrorKey> =
                open_map(&mut self.ebpf, "trk_mirror_keys")?;
            let mut table = [MirrorKey::default(); 256];
            for (index, peer) in rules.peers.peers().iter().enumerate() {
                for key in &peer.keys {
                    let (k0, k1) = key.sip_keys();
                    table[usize::from(key.id)] = MirrorKey {
                        peer: index as u32 + 1,
                        flags: if peer.addresses.is_empty() {
                            abi::KEY_ANY_ADDRESS
                        } else {
                            0
                        },
                        k0,
                        k1,
                    };
                }
            }
            for (id, key) in table.iter().enumerate() {
                keys.set(id as u32, *key, 0)
                    .map_err(XdpError::map("trk_mirror_keys: set"))?;
            }
        }
        self.peers = infos.len();
        let config = &mut self.config;
        config.max_skew_secs = rules.max_clock_skew_secs;
        config.patterns = used as u32;
        config.flags &= abi::MIRROR_GATEWAY;
        if rules.wan.to_server != LinkConfig::default() {
            config.flags |= abi::MIRROR_WAN_TO_SERVER;
        }
        if rules.wan.to_client != LinkConfig::default() {
            config.flags |= abi::MIRROR_WAN_TO_CLIENT;
        }
        let guard = rules.guard;
        if let Some(rate) = guard.packets {
            config.flags |= abi::MIRROR_PACKET_LIMIT;
            config.packets_per_second = rate.per_second;
            config.packets_burst = rate.burst;
        }
        if let Some(rate) = guard.bytes {
            config.flags |= abi::MIRROR_BYTE_LIMIT;
            config.bytes_per_second = rate.per_second;
            config.bytes_burst = rate.burst;
        }
        config.credit_cap = guard.credit_cap;
        config.slot_mask = (guard.slots.max(1).next_power_of_two() - 1) as u32;
        self.set_clock()
    }

    /// Attach the mirror's program to `interface`.
    pub fn attach(&mut self, interface: &str, mode: XdpMode) -> Result<(), XdpError> {
        self.attach_program(MIRROR_PROGRAM, interface, mode)
    }

    /// Attach one of the object's programs (`pass_xdp` on a veth's peer) to `interface`.
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

    /// Interfaces the program is attached to (detached when this value drops).
    pub fn attached(&self) -> &[String] {
        &self.attached
    }

    /// Run the mirror's program once on `frame`, the output frame into `out`.
    pub fn test_run(&self, frame: &[u8], out: &mut [u8]) -> Result<TestRunOutcome, XdpError> {
        self.test_run_program(MIRROR_PROGRAM, frame, out)
    }

    /// Run program `name` of the object (the mirror's, or `pass_xdp` for the timer's floor)
    /// once on `frame`.
    pub fn test_run_program(
        &self,
        name: &str,
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<TestRunOutcome, XdpError> {
        trickles_xdp::kit::test_run(&self.ebpf, name, frame, out, 1)
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpMirrorCounters, XdpError> {
        let read = |index: u32| per_cpu_sum(&self.ebpf, "trk_mirror_counters", index);
        let mut counters = XdpMirrorCounters {
            received_packets: read(abi::MCTR_RECEIVED_PACKETS)?,
            received_bytes: read(abi::MCTR_RECEIVED_BYTES)?,
            ..XdpMirrorCounters::default()
        };
        for (i, r) in counters.rejects.iter_mut().enumerate() {
            *r = read(abi::MCTR_REJECT_BASE + i as u32)?;
        }
        for (i, p) in counters.passed.iter_mut().enumerate() {
            *p = read(abi::MCTR_PASS_BASE + i as u32)?;
        }
        for peer in 0..self.peers as u32 {
            let base = abi::MCTR_PEER_BASE + 2 * peer;
            counters.forwarded.push((read(base)?, read(base + 1)?));
        }
        Ok(counters)
    }

    /// Tells the program the time: the wall clock now and the monotonic clock its
    /// `bpf_ktime_get_ns` reads (tag timestamps are checked against the first, advanced by the
    /// second). The runner calls it every few milliseconds.
    pub fn set_clock(&mut self) -> Result<(), XdpError> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut monotonic = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut monotonic) };
        self.config.clock_secs = wall;
        self.config.clock_ktime =
            monotonic.tv_sec as u64 * 1_000_000_000 + monotonic.tv_nsec as u64;
        self.write_config()
    }

    fn write_config(&mut self) -> Result<(), XdpError> {
        let config = self.config;
        let mut map: Array<&mut MapData, MirrorConfig> =
            open_map(&mut self.ebpf, "trk_mirror_config")?;
        map.set(0, config, 0)
            .map_err(XdpError::map("trk_mirror_config: set"))
    }
}
