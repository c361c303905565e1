//! Network namespaces for the real-process tests that need a routed network (needs root):
//! [`Namespace`] creates one and deletes it when dropped (also on panic), runs code and starts
//! processes inside it, and links two of them with a veth pair; [`udp_sources`] counts the UDP
//! datagrams reaching an interface by source address; [`dsr_network`] is the network of the
//! direct-return test.
//!
//! A namespace is entered per thread (`setns(2)` on a fresh thread, or between fork and exec
//! for a child), so the test process itself never leaves its own namespace. Names include the
//! test process id, so concurrent runs do not collide; veth pairs are created directly inside
//! their namespaces, so their names never meet in the host's namespace.

#![allow(dead_code)] // each test uses part of this module

pub mod dsr_network;
pub mod udp_sources;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Fails the test, saying why, unless it runs as root (namespaces and veth pairs need
/// `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`; CI runs as root).
pub fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "{test} builds network namespaces and needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); \
         run it as root, e.g. `sudo -E cargo test -p trickles-lab --test dsr_netns`"
    );
}

/// `ip ARGS`, panicking with its standard error when it fails.
pub fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2): {e}"));
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// A network namespace, deleted when dropped.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates `trk-<role>-<pid>-<tag>` with its loopback interface up.
    pub fn create(role: &str, tag: &str) -> Namespace {
        let name = format!("trk-{role}-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let namespace = Namespace { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Sets `key` (as in `sysctl`, e.g. `net.ipv4.ip_forward`) to `value` in this namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        let value = value.to_owned();
        self.run(move || std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("sysctl {key} in {}: {e}", self.name));
    }

    /// Runs `f` on a thread inside this namespace and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = self.file();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    enter(&file);
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Starts `f` on a thread inside this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = self.file();
        std::thread::spawn(move || {
            enter(&file);
            f()
        })
    }

    /// A command for `program` that runs inside this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let file = self.file();
        let mut command = Command::new(program);
        // SAFETY: between fork and exec the closure only calls setns(2), async-signal-safe,
        // on a descriptor the closure owns (close-on-exec, so the program does not keep it).
        unsafe {
            command.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        command
    }

    fn file(&self) -> File {
        let path = format!("/run/netns/{}", self.name);
        File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Moves the calling thread into the namespace of `file`.
fn enter(file: &File) {
    // SAFETY: a valid namespace descriptor; only the calling thread changes namespace.
    let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Links `a` and `b` with a veth pair named `a_name` (in `a`) and `b_name` (in `b`), both up.
pub fn veth(a: &Namespace, a_name: &str, b: &Namespace, b_name: &str) {
    ip(&[
        "link",
        "add",
        a_name,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_name,
        "netns",
        b.name(),
    ]);
    a.ip(&["link", "set", a_name, "up"]);
    b.ip(&["link", "set", b_name, "up"]);
}
