//! Running one of the object's programs on a frame (`BPF_PROG_TEST_RUN`): once with its output
//! (the fixture tests, the per-fixture benchmark), or live (`BPF_F_TEST_XDP_LIVE_FRAMES`, the
//! veth benchmark's generator, which rewrites each frame from [`XdpBalancer::set_generated_frame`]).

use std::time::Duration;

use aya::maps::{Array, MapData};

use super::error::XdpError;
use super::object::BALANCER_PROGRAM;
use super::program::{open_map, XdpBalancer};

pub use trickles_xdp::kit::{action, TestRunOutcome};

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
        trickles_xdp::kit::test_run(&self.ebpf, name, frame, out, repeat)
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
        trickles_xdp::kit::run_live(&self.ebpf, name, frame, ifindex, repeat)
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
