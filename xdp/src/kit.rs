//! The small verbs every XDP datapath needs on a loaded object: its programs by name (loaded
//! through the verifier), its maps by name and type, a program run on a frame (once with its
//! output, or live), and a per-CPU counter summed over CPUs.

use std::time::Duration;

use aya::maps::{MapData, PerCpuArray};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use aya::Ebpf;

use crate::error::XdpError;

/// What one program test-run gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The XDP action ([`action`]).
    pub action: u32,
    /// Bytes of the output frame written.
    pub len: usize,
    /// Time of the run (mean per run when repeated), as the kernel measured it.
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

/// The XDP program `name` of `ebpf`.
pub fn program<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp, XdpError> {
    ebpf.program(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no program {name} in the object")))?
        .try_into()
        .map_err(XdpError::program(format!("{name}: type")))
}

/// The XDP program `name` of `ebpf`, to load or attach.
pub fn program_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, XdpError> {
    ebpf.program_mut(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no program {name} in the object")))?
        .try_into()
        .map_err(XdpError::program(format!("{name}: type")))
}

/// Loads every program of `names` (the verifier runs here).
pub fn load_programs(ebpf: &mut Ebpf, names: &[&str]) -> Result<(), XdpError> {
    for name in names {
        program_mut(ebpf, name)?
            .load()
            .map_err(XdpError::program(format!("{name}: load")))?;
    }
    Ok(())
}

/// The map `name` of `ebpf` as `M` (an `Array`, a `HashMap`, ...).
pub fn open_map<'a, M>(ebpf: &'a mut Ebpf, name: &str) -> Result<M, XdpError>
where
    M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map_mut(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no map {name} in the object")))?;
    M::try_from(map).map_err(XdpError::map(format!("{name}: open")))
}

/// Runs program `name` on `frame` (`BPF_PROG_TEST_RUN`), the output frame into `out`;
/// `repeat` > 1 measures the mean time per run (each run sees what the previous one wrote).
pub fn test_run(
    ebpf: &Ebpf,
    name: &str,
    frame: &[u8],
    out: &mut [u8],
    repeat: u32,
) -> Result<TestRunOutcome, XdpError> {
    let result = program(ebpf, name)?
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

/// Runs program `name` on `repeat` copies of `frame` as if they arrived on the device
/// `ifindex` of this thread's network namespace, **live** (`BPF_F_TEST_XDP_LIVE_FRAMES`):
/// `XDP_TX` and `XDP_REDIRECT` really transmit, `XDP_PASS` hands the frame to the stack. The
/// kernel's own traffic generator. Returns the wall time. Pages are recycled with whatever the
/// far side wrote into them: a generator program must rewrite its frame.
pub fn run_live(
    ebpf: &Ebpf,
    name: &str,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> Result<Duration, XdpError> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
    let mut context = [0u8; 24];
    context[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    context[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    let started = std::time::Instant::now();
    program(ebpf, name)?
        .test_run(TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&context),
            repeat: repeat.max(1),
            attrs: TestRunAttrs::new().xdp_live_frames(64),
            ..TestRunOptions::default()
        })
        .map_err(XdpError::program(format!("{name}: live test run")))?;
    Ok(started.elapsed())
}

/// Entry `index` of the per-CPU `u64` array `name`, summed over CPUs.
pub fn per_cpu_sum(ebpf: &Ebpf, name: &str, index: u32) -> Result<u64, XdpError> {
    let map = ebpf
        .map(name)
        .ok_or_else(|| XdpError::Unsupported(format!("no map {name} in the object")))?;
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(map).map_err(XdpError::map(format!("{name}: open")))?;
    let values = counters
        .get(&index, 0)
        .map_err(XdpError::map(format!("{name}: read")))?;
    Ok(values.iter().copied().fold(0u64, u64::wrapping_add))
}
