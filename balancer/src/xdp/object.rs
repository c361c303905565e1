//! The compiled XDP object (`bpf/balancer.c`, built by `build.rs`), embedded in the binary and
//! aligned as the ELF parser needs. Empty when the build had no clang.

/// Bytes aligned to 8 (the ELF reader refuses misaligned section headers).
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static OBJECT: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/balancer.bpf.o")));

/// The object, or `None` when this binary was built without clang.
pub fn balancer_object() -> Option<&'static [u8]> {
    let bytes = &OBJECT.0;
    (!bytes.is_empty()).then_some(bytes)
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
