//! Compiles the XDP programs (`bpf/balancer.c` and the headers it includes) into `$OUT_DIR/balancer.bpf.o` with clang
//! (`-target bpf -O2 -g`), which the crate embeds (`src/xdp/object.rs`).
//!
//! The compile step is `trickles-xdp`'s (`xdp/src/clang.rs`): without clang (or with
//! `TRICKLES_NO_BPF=1`) the build still succeeds and the XDP datapath refuses to load at run
//! time, saying why (`datapath: auto` then runs the userspace datapath). `scripts/setup`
//! installs clang, llvm, libbpf-dev and bpftool.

use std::path::PathBuf;

#[path = "../xdp/src/clang.rs"]
mod clang;

fn main() {
    // Every file of the directories (the program includes its headers and the shared ones).
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-changed=../xdp/bpf");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("balancer.bpf.o");
    clang::compile("bpf/balancer.c", &["../xdp/bpf"], &out);
}
