//! [`Namespace`]: a network namespace deleted (with every process still in it) when dropped;
//! [`NamespaceRef`] to start processes or threads inside one; [`remove_stale`], which deletes
//! namespaces left by a run that was killed; and [`may_create_namespaces`], the check a test
//! makes before it needs root.
//!
//! Names are `trl<pid>-<role>`: the owner's pid makes concurrent runs independent and lets a
//! later run recognise namespaces whose owner is gone. Interface names live inside a
//! namespace, so every test can use the same short ones.
//!
//! Processes enter a namespace with `setns(2)` between `fork` and `exec`
//! ([`NamespaceRef::enter`]); a program reaches into one from a thread
//! ([`NamespaceRef::run_inside`], [`NamespaceRef::spawn_inside`]), since a thread's network
//! namespace is its own.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command_line::{run, run_quietly};
use crate::error::{Result, TestkitError};

/// Where `ip netns` keeps the namespaces it names.
const NETNS_DIR: &str = "/var/run/netns";
/// Every namespace name made here starts with this, then the owner's pid.
const NAME_PREFIX: &str = "trl";

/// Whether this process may create network namespaces (it runs as root). Tests that need
/// namespaces say so and pass without them.
pub fn may_create_namespaces() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this process may create namespaces and TUN devices.
pub fn may_create_tun_devices() -> bool {
    may_create_namespaces() && Path::new("/dev/net/tun").exists()
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

/// A non-owning handle that process specifications carry: the namespace to start in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceRef {
    name: String,
}

impl Namespace {
    /// Creates `trl<pid>-<role>` (`role` is unique within this process) with its loopback
    /// interface up.
    pub fn create(role: &str) -> Result<Self> {
        let namespace = Namespace {
            name: format!("{NAME_PREFIX}{}-{role}", std::process::id()),
        };
        namespace.recreate()?;
        Ok(namespace)
    }

    /// Kills every process inside and deletes the namespace, keeping the name for
    /// [`recreate`](Self::recreate) (a crashed host).
    pub fn destroy(&self) {
        delete(&self.name);
    }

    /// Creates the namespace under its name (again, after [`destroy`](Self::destroy)), with its
    /// loopback interface up.
    pub fn recreate(&self) -> Result<()> {
        run("ip", &["netns", "add", &self.name])?;
        self.ip(&["link", "set", "lo", "up"]).map(drop)
    }

    /// The namespace's name (for `ip -n`, `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle for process specifications.
    pub fn handle(&self) -> NamespaceRef {
        NamespaceRef {
            name: self.name.clone(),
        }
    }

    /// `ip -n NAME args..`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// `tc -n NAME args..`.
    pub fn tc(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("tc", &full)
    }

    /// Runs `program args..` inside the namespace (`ip netns exec`), returning its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Sets one sysctl of the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-qw", &format!("{key}={value}")])
            .map(drop)
    }

    /// Moves the interface `device` (of this process's namespace) into this one.
    pub fn adopt(&self, device: &str) -> Result<()> {
        run("ip", &["link", "set", device, "netns", &self.name]).map(drop)
    }
}

impl NamespaceRef {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes `command` start inside this namespace: the child calls `setns(2)` before `exec`.
    pub fn enter(&self, command: &mut Command) -> Result<()> {
        let file = self.open()?;
        // SAFETY: between fork and exec the closure only calls setns(2), an async-signal-safe
        // system call, on a descriptor opened before the fork; `file` stays alive in the
        // closure (moved in) until the command is dropped, after spawning.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Ok(())
    }

    /// Runs `work` on a new thread that has joined this namespace (sockets it opens live
    /// there), and returns its result.
    pub fn run_inside<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T> {
        let file = self.open()?;
        std::thread::scope(|scope| {
            scope
                .spawn(move || self.join(&file).map(|()| work()))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Starts `work` on a new thread that has joined this namespace and returns at once; the
    /// thread's result says whether it could enter. For servers that must run while the
    /// caller acts elsewhere.
    pub fn spawn_inside<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<Result<T>>> {
        let file = self.open()?;
        let this = self.clone();
        Ok(std::thread::spawn(move || {
            this.join(&file).map(|()| work())
        }))
    }

    /// Moves the calling thread into this namespace.
    fn join(&self, file: &File) -> Result<()> {
        // SAFETY: setns(2) on a valid namespace descriptor affects only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(TestkitError::process(
                format!("entering network namespace {}", self.name),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn open(&self) -> Result<File> {
        let path = PathBuf::from(NETNS_DIR).join(&self.name);
        File::open(&path).map_err(|error| TestkitError::io(path, error))
    }
}

/// Runs `work` in `netns` (on a thread that joined it), or right here for `None`; `None` if
/// the namespace cannot be entered. For probes of processes started somewhere.
pub fn run_in<T: Send>(netns: Option<&NamespaceRef>, work: impl FnOnce() -> T + Send) -> Option<T> {
    match netns {
        Some(netns) => netns.run_inside(work).ok(),
        None => Some(work()),
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// Kills every process still inside `name`, then deletes it.
fn delete(name: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", name]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) with a pid read from the namespace; at worst the process is gone.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    run_quietly("ip", &["netns", "delete", name]);
}

/// Deletes the namespaces of earlier runs whose process no longer exists (a program killed
/// with SIGKILL cannot clean up after itself). Returns how many it deleted.
pub fn remove_stale() -> usize {
    let Ok(listing) = run("ip", &["netns", "list"]) else {
        return 0;
    };
    let mut removed = 0;
    for name in listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        let Some(owner) = owner_pid(name) else {
            continue;
        };
        if owner != std::process::id() && !PathBuf::from(format!("/proc/{owner}")).exists() {
            delete(name);
            removed += 1;
        }
    }
    removed
}

/// The pid in a namespace name `trl<pid>-<role>`, if `name` is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, role) = rest.split_once('-')?;
    if role.is_empty() {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_only_testkit_names() {
        assert_eq!(owner_pid("trl4242-srv"), Some(4242));
        assert_eq!(owner_pid("trl4242-3-srv"), Some(4242));
        assert_eq!(owner_pid("trl4242-"), None);
        assert_eq!(owner_pid("trlx-srv"), None);
        assert_eq!(owner_pid("blue"), None);
    }

    /// The network namespace of the calling thread, as the kernel names it (`net:[4026...]`).
    fn thread_namespace() -> PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").expect("ns link")
    }

    #[test]
    fn a_dropped_namespace_is_deleted_and_threads_enter_it() {
        if !may_create_namespaces() {
            eprintln!("not root: namespace guard test skipped");
            return;
        }
        let namespace = Namespace::create("testkit-guard").expect("namespace");
        let path = PathBuf::from(NETNS_DIR).join(namespace.name());
        assert!(path.exists());
        let listing = namespace.ip(&["-o", "link"]).expect("ip link");
        assert_eq!(listing.lines().count(), 1, "only loopback: {listing}");
        let here = thread_namespace();
        let inside = namespace
            .handle()
            .run_inside(thread_namespace)
            .expect("entered");
        let spawned = namespace
            .handle()
            .spawn_inside(thread_namespace)
            .expect("spawned")
            .join()
            .expect("thread")
            .expect("entered");
        assert_ne!(inside, here);
        assert_eq!(spawned, inside);
        drop(namespace);
        assert!(!path.exists(), "the namespace outlived its guard");
    }
}
