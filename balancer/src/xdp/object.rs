//! The compiled XDP object (`bpf/balancer.c`, built by `build.rs`), embedded in the binary
//! ([`trickles_xdp::embedded_object!`]), and the names of its programs.

/// The object, or `None` when this binary was built without clang.
pub fn balancer_object() -> Option<&'static [u8]> {
    trickles_xdp::embedded_object!("balancer.bpf.o")
}

/// Name of the balancer's XDP program in the object.
pub const BALANCER_PROGRAM: &str = "balancer_xdp";
/// The benchmarks' baseline: swaps MACs and sends the frame back.
pub const FORWARD_ONLY_PROGRAM: &str = "forward_only_xdp";
/// `XDP_PASS` only: for the peer of a veth that must deliver `XDP_TX`/`XDP_REDIRECT` frames.
pub const PASS_PROGRAM: &str = "pass_xdp";
/// `XDP_DROP` only: the benchmarks' sink (the veth counts what it dropped).
pub const DROP_PROGRAM: &str = "drop_xdp";
/// The benchmarks' generator: rewrites the frame from a template and sends it (`XDP_TX`).
pub const GENERATE_PROGRAM: &str = "generate_xdp";
