//! Running one of the object's programs on a frame (`BPF_PROG_TEST_RUN`): once with its output
//! (the fixture tests, the per-fixture benchmark), or live (`BPF_F_TEST_XDP_LIVE_FRAMES`, the
//! veth benchmark's generator, which rewrites each frame from [`XdpBalancer::set_generated_frame`]).

use std::time::Duration;

use aya::maps::{Array, MapData};
use aya::programs::{TestRun, TestRunOptions, Xdp};

use super::error::XdpError;
use super::object::BALANCER_PROGRAM;
use super::program::{open_map, XdpBalancer};

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

impl XdpBalancer {
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

    /// The frame the generator program (`generate_xdp`) writes before sending (at most 256
    /// bytes, the length of the frames it is run on).
    pub fn set_generated_frame(&mut self, frame: &[u8]) -> Result<(), XdpError> {
        let mut value = BenchFrame {
            len: frame.len() as u32,
            bytes: [0; 256],
        };
        if frame.is_empty() || frame.len() > value.bytes.len() {
            return Err(XdpError::Unsupported(format!(
                "a generated frame of {} bytes (1 to 256)",
                frame.len()
            )));
        }
        value.bytes[..frame.len()].copy_from_slice(frame);
        let mut map: Array<&mut MapData, BenchFrame> = open_map(&mut self.ebpf, "trk_bench_frame")?;
        map.set(0, value, 0)
            .map_err(XdpError::map("trk_bench_frame: set"))
    }

    /// Runs program `name` on `repeat` copies of `frame` as if they arrived on the device
    /// `ifindex` of this thread's network namespace, **live** (`BPF_F_TEST_XDP_LIVE_FRAMES`):
    /// `XDP_TX` and `XDP_REDIRECT` really transmit, `XDP_PASS` hands the frame to the stack.
    /// The kernel's own traffic generator: the benchmarks inject with it. Returns the wall time.
    pub fn run_live(
        &self,
        name: &str,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<Duration, XdpError> {
        let program: &Xdp = self
            .ebpf
            .program(name)
            .ok_or_else(|| XdpError::Unsupported(format!("no program {name} in the object")))?
            .try_into()
            .map_err(XdpError::program(format!("{name}: type")))?;
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex.
        let mut context = [0u8; 24];
        context[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        context[12..16].copy_from_slice(&ifindex.to_ne_bytes());
        let started = std::time::Instant::now();
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&context),
                repeat: repeat.max(1),
                attrs: aya::programs::TestRunAttrs::new().xdp_live_frames(64),
                ..TestRunOptions::default()
            })
            .map_err(XdpError::program(format!("{name}: live test run")))?;
        Ok(started.elapsed())
    }
}

/// `struct bench_frame` of `balancer.c`: the generator's template.
#[repr(C)]
#[derive(Clone, Copy)]
struct BenchFrame {
    len: u32,
    bytes: [u8; 256],
}

// SAFETY: `repr(C)`, integers and bytes, no padding (4 + 256 bytes), any bit pattern valid.
unsafe impl aya::Pod for BenchFrame {}
