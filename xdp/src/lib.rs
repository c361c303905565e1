//! # trickles-xdp: what the XDP datapaths of the network functions share
//!
//! The balancer's XDP datapath (`balancer/src/xdp`, `docs/XDP.md`) and the mirror's are each a C
//! program compiled by clang and a Rust control plane that loads it with aya. What does not
//! belong to either lives here, so neither copies it:
//!
//! - [`encap_abi`]: the encapsulation header's constants for C (`bpf/encap_abi.h`), checked
//!   against `trickles-netfn`'s; [`header`]: reading a C header's `#define`s for such checks;
//! - [`kit`]: programs and maps of a loaded object by name, program test runs (once or live),
//!   per-CPU counters summed;
//! - [`follower`]: the thread that keeps an attached program in step with its control plane;
//! - [`mapped_slots`]: an array map written through a memory mapping;
//! - [`privileges`]: `CAP_BPF` / `CAP_NET_ADMIN`, named when missing;
//! - [`settings`]: `datapath: userspace | xdp | auto` and the `xdp_*` keys;
//! - [`error`]: [`XdpError`], why XDP is unavailable;
//! - [`clang`]: the build scripts' compile step (included by path, std only);
//! - [`embedded_object!`]: the compiled object in the binary, aligned for the ELF reader;
//! - `bpf/`: the C headers: the parsed frame, checksums, the encapsulation header and its
//!   constants (checked against `trickles-netfn`'s by a test), the rewrite.

pub mod clang;
pub mod encap_abi;
pub mod error;
pub mod follower;
pub mod header;
pub mod kit;
pub mod mapped_slots;
pub mod privileges;
pub mod settings;

pub use error::XdpError;
pub use kit::{action, TestRunOutcome};

/// Bytes aligned to 8 (the ELF reader refuses misaligned section headers).
#[repr(C, align(8))]
pub struct Aligned<B: ?Sized>(pub B);

/// `embedded_object!("name.bpf.o")`: the object a build script wrote into `OUT_DIR`, as an
/// `Option<&'static [u8]>` (`None` when the build had no clang and wrote an empty file).
#[macro_export]
macro_rules! embedded_object {
    ($file:literal) => {{
        static OBJECT: &$crate::Aligned<[u8]> =
            &$crate::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/", $file)));
        let bytes: &'static [u8] = &OBJECT.0;
        (!bytes.is_empty()).then_some(bytes)
    }};
}
