//! Compiles the mirror's XDP program (`bpf/mirror.c` and the headers it includes, its own and
//! `trickles-xdp`'s) into `$OUT_DIR/mirror.bpf.o`, which the crate embeds
//! (`src/xdp/program.rs`). The compile step is `trickles-xdp`'s (`xdp/src/clang.rs`): without
//! clang the build still succeeds and the XDP datapath refuses to load at run time, saying why.

use std::path::PathBuf;

#[path = "../xdp/src/clang.rs"]
mod clang;

fn main() {
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-changed=../xdp/bpf");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("mirror.bpf.o");
    clang::compile("bpf/mirror.c", &["../xdp/bpf"], &out);
}
