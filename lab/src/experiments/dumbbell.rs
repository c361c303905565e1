//! [`Dumbbell`]: the testbed of the memory and throughput experiments: a `clients` host and a
//! `server` host around the router, a token-bucket bottleneck on what the router forwards toward
//! the clients (the download direction), kernel TCP's congestion control chosen in both hosts,
//! and room for thousands of connections (listen backlog, descriptor limit).

use crate::error::{LabError, Result};
use crate::topology::{Family, Host, NamespaceHost, Topology};

/// Role of the clients' host.
pub const CLIENTS: &str = "clients";
/// Role of the server's host.
pub const SERVER: &str = "server";

/// The two-host testbed.
#[derive(Debug)]
pub struct Dumbbell {
    topology: Topology,
}

/// How to build it.
#[derive(Clone, Debug)]
pub struct DumbbellSpec {
    /// Bottleneck rate toward the clients, bits per second.
    pub rate_bits: u64,
    /// Bottleneck queue, bytes.
    pub queue_bytes: u64,
    /// Kernel TCP congestion control (`reno`, `cubic`).
    pub tcp_cc: String,
}

impl Dumbbell {
    /// Builds the namespaces, links, bottleneck and sysctls (`what` names the run for the
    /// root check).
    pub fn build(what: &str, spec: &DumbbellSpec, family: Family) -> Result<Self> {
        raise_descriptor_limit()?;
        let topology = Topology::star(what, &[CLIENTS, SERVER], family)?;
        let testbed = topology.testbed()?;
        for host in testbed.hosts() {
            let ns = host.namespace();
            ns.sysctl("net.ipv4.tcp_congestion_control", &spec.tcp_cc)
                .map_err(|error| LabError::Usage(format!(
                    "--tcp-cc {}: the kernel refused it ({error}); `sysctl net.ipv4.tcp_available_congestion_control` lists what it has",
                    spec.tcp_cc
                )))?;
            ns.sysctl("net.core.somaxconn", "65535")?;
            ns.sysctl("net.ipv4.tcp_max_syn_backlog", "65535")?;
            ns.sysctl("net.ipv4.ip_local_port_range", "10000 65000")?;
        }
        testbed.shape_toward(CLIENTS, spec.rate_bits, spec.queue_bytes)?;
        Ok(Dumbbell { topology })
    }

    /// The host playing `role` ([`CLIENTS`] or [`SERVER`]), to start services in.
    pub fn host(&self, role: &str) -> Host {
        self.topology.host(role)
    }

    /// The server's namespace host (for what is read inside it: socket memory).
    pub fn server(&self) -> Result<&NamespaceHost> {
        Ok(self.topology.testbed()?.host(SERVER))
    }
}

/// Raises this process' soft descriptor limit to the hard one; children (server, clients with
/// thousands of connections) inherit it.
pub fn raise_descriptor_limit() -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(LabError::process(
                "reading RLIMIT_NOFILE",
                std::io::Error::last_os_error(),
            ));
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(LabError::process(
                "raising RLIMIT_NOFILE",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(limit.rlim_cur)
}
