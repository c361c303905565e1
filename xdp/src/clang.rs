//! Compiling an XDP program with clang, for the build scripts of the network functions (they
//! include this file with `#[path]`; it uses the standard library only).
//!
//! `compile(source, include_dirs, out)` runs `clang -target bpf -O2 -g -Wall -Werror` with the
//! multiarch include directory Debian keeps `asm/types.h` in. Without clang (or with
//! `TRICKLES_NO_BPF=1`) it writes an empty object and a cargo warning: the build succeeds and
//! the datapath refuses to load at run time, saying why. `TRICKLES_CLANG` names another
//! compiler. A present compiler that fails is a bug in the C source: the build fails.

use std::path::Path;
use std::process::Command;

/// Compile `source` into `out` (see the module documentation).
pub fn compile(source: &str, include_dirs: &[&str], out: &Path) {
    println!("cargo:rerun-if-env-changed=TRICKLES_CLANG");
    println!("cargo:rerun-if-env-changed=TRICKLES_NO_BPF");
    if std::env::var_os("TRICKLES_NO_BPF").is_some_and(|v| v == "1") {
        return skip(out, "TRICKLES_NO_BPF=1");
    }
    let clang = std::env::var("TRICKLES_CLANG").unwrap_or_else(|_| "clang".to_owned());
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_owned());
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
    let mut command = Command::new(&clang);
    command.args([
        "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", &multiarch,
    ]);
    for dir in include_dirs {
        command.arg(format!("-I{dir}"));
    }
    match command.args(["-c", source, "-o"]).arg(out).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "{clang} could not compile {source}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => skip(out, &format!("{clang} not found ({e})")),
    }
}

fn skip(out: &Path, why: &str) {
    println!("cargo:warning=XDP programs not built: {why}; the XDP datapath will be unavailable");
    std::fs::write(out, b"").expect("write the empty object");
}
