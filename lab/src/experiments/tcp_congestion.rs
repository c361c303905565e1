//! Kernel TCP's congestion control in a testbed: `net.ipv4.tcp_congestion_control` is per
//! network namespace, so every namespace of the testbed gets it (the experiments compare
//! Trickles' Reno-equivalent window with kernel Reno by default: `--tcp-cc reno`).

use crate::error::{LabError, Result};
use crate::topology::{Namespace, StarTestbed, Topology};

const ALGORITHM_KEY: &str = "net.ipv4.tcp_congestion_control";
const AVAILABLE_KEY: &str = "net.ipv4.tcp_available_congestion_control";

/// Sets `algorithm` (e.g. `"reno"`, `"cubic"`) in the router's and every host's namespace;
/// an algorithm the kernel does not offer is a usage error naming the ones it does.
pub fn use_everywhere(testbed: &StarTestbed, algorithm: &str) -> Result<()> {
    let namespaces =
        std::iter::once(testbed.router()).chain(testbed.hosts().iter().map(|h| h.namespace()));
    for namespace in namespaces {
        set(namespace, algorithm)?;
    }
    Ok(())
}

/// Sets `algorithm` in the namespace of host `role` only (a host that booted again).
pub fn use_in(topology: &Topology, role: &str, algorithm: &str) -> Result<()> {
    set(topology.testbed()?.host(role).namespace(), algorithm)
}

fn set(namespace: &Namespace, algorithm: &str) -> Result<()> {
    if namespace.sysctl(ALGORITHM_KEY, algorithm).is_ok() {
        return Ok(());
    }
    let available = namespace
        .exec("sysctl", &["-n", AVAILABLE_KEY])
        .unwrap_or_default();
    Err(LabError::Usage(format!(
        "--tcp-cc {algorithm}: the kernel offers {} (modprobe tcp_{algorithm} may add it)",
        available.trim()
    )))
}
