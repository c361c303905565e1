//! Compiles the XDP programs (`bpf/balancer.c` and the headers it includes) into `$OUT_DIR/balancer.bpf.o` with clang
//! (`-target bpf -O2 -g`), which the crate embeds (`src/xdp/object.rs`).
//!
//! Without clang (or with `TRICKLES_NO_BPF=1`) the build still succeeds: it writes an empty
//! object and a warning, and the XDP datapath refuses to load at run time with a message
//! saying why (`datapath: auto` then runs the userspace datapath). `TRICKLES_CLANG` names
//! another compiler. `scripts/setup` installs clang, llvm, libbpf-dev and bpftool.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    // Every file of the directory (the program includes its headers).
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=TRICKLES_CLANG");
    println!("cargo:rerun-if-env-changed=TRICKLES_NO_BPF");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("balancer.bpf.o");
    if std::env::var_os("TRICKLES_NO_BPF").is_some_and(|v| v == "1") {
        return skip(&out, "TRICKLES_NO_BPF=1");
    }
    let clang = std::env::var("TRICKLES_CLANG").unwrap_or_else(|_| "clang".to_owned());
    // asm/types.h lives under the multiarch include directory on Debian.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_owned());
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
    let result = Command::new(&clang)
        .args([
            "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", &multiarch,
        ])
        .args(["-c", "bpf/balancer.c", "-o"])
        .arg(&out)
        .output();
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            // A present compiler that fails is a bug in the C source: fail the build loudly.
            panic!(
                "{clang} could not compile bpf/balancer.c:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Err(e) => skip(&out, &format!("{clang} not found ({e})")),
    }
}

fn skip(out: &PathBuf, why: &str) {
    println!("cargo:warning=XDP programs not built: {why}; the XDP datapath will be unavailable");
    std::fs::write(out, b"").expect("write the empty object");
}
