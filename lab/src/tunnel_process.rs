//! [`TunnelProcess`]: one running `trickles-mirror-tunnel` in a testbed namespace: a TUN device
//! whose IP packets travel through the packet mirror to the remote endpoint, so that kernel
//! TCP between the two tunnel addresses crosses the same emulated path as Trickles
//! (docs/NETWORK-FUNCTIONS.md §4.7).
//!
//! The lab configures the device itself (`ip -n NS`), once the endpoint has created it: both
//! address families, and the MTU that leaves room for the outer headers.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::children::ChildProcess;
use crate::error::Result;
use crate::testbed::command_line::run;
use crate::testbed::NamespaceRef;
use crate::tunnel_binary::TUNNEL_BIN;

/// How long the endpoint may take to create its device.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Bytes a tunnelled packet gains on the way to the mirror, at most: outer IPv6 (40) and UDP
/// (8) headers and the mirror header with an IPv6 peer (24); an authentication tag would add 15.
pub const TUNNEL_OVERHEAD: u16 = 40 + 8 + 24;

/// How to run one endpoint.
#[derive(Clone, Debug)]
pub struct TunnelSpec {
    /// The `trickles-mirror-tunnel` executable.
    pub binary: PathBuf,
    /// The mirror's UDP address.
    pub via: SocketAddr,
    /// This endpoint's UDP address (a peer of the mirror).
    pub listen: SocketAddr,
    /// The remote endpoint's UDP address.
    pub remote: SocketAddr,
    /// The TUN device's name in the namespace.
    pub device: String,
    /// This host's tunnel address.
    pub address: IpAddr,
    /// The remote host's tunnel address (point to point).
    pub peer_address: IpAddr,
    /// The device MTU; the path's MTU minus [`TUNNEL_OVERHEAD`] fits any family.
    pub mtu: u16,
    /// Where the endpoint's stdout and stderr go.
    pub log: PathBuf,
}

/// A running endpoint with its device configured; killed (and the device gone) when dropped.
#[derive(Debug)]
pub struct TunnelProcess {
    child: ChildProcess,
    spec: TunnelSpec,
}

impl TunnelProcess {
    /// Starts the endpoint in `netns`, waits for its device and configures it.
    pub fn start_in(spec: TunnelSpec, netns: &NamespaceRef) -> Result<Self> {
        let mut command = Command::new(&spec.binary);
        command
            .arg("--via")
            .arg(spec.via.to_string())
            .arg("--listen")
            .arg(spec.listen.to_string())
            .arg("--remote")
            .arg(spec.remote.to_string())
            .arg("--tun")
            .arg(&spec.device);
        netns.enter(&mut command)?;
        let child = ChildProcess::spawn(TUNNEL_BIN, command, &spec.log)?;
        let mut tunnel = TunnelProcess { child, spec };
        tunnel.wait_for_device(netns)?;
        tunnel.configure(netns)?;
        Ok(tunnel)
    }

    /// The spec it was started from.
    pub fn spec(&self) -> &TunnelSpec {
        &self.spec
    }

    /// Fails with the endpoint's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.child.check_running()
    }

    fn wait_for_device(&mut self, netns: &NamespaceRef) -> Result<()> {
        let (ns, device) = (netns.name().to_owned(), self.spec.device.clone());
        self.child.wait_until(
            &format!("{TUNNEL_BIN} to create {device}"),
            START_LIMIT,
            || run("ip", &["-n", &ns, "link", "show", &device]).is_ok(),
        )
    }

    fn configure(&self, netns: &NamespaceRef) -> Result<()> {
        let (ns, device) = (netns.name(), self.spec.device.as_str());
        let (local, peer) = (
            self.spec.address.to_string(),
            self.spec.peer_address.to_string(),
        );
        let mut add = vec![
            "-n", ns, "address", "add", &local, "peer", &peer, "dev", device,
        ];
        if self.spec.address.is_ipv6() {
            add.push("nodad");
        }
        run("ip", &add)?;
        let mtu = self.spec.mtu.to_string();
        run("ip", &["-n", ns, "link", "set", device, "mtu", &mtu, "up"])?;
        // IPv4 routes a point-to-point peer by itself; IPv6 does not (only the local address
        // gets a route), so the route to the peer is set explicitly, for both.
        let prefix = if self.spec.peer_address.is_ipv6() {
            128
        } else {
            32
        };
        let route = format!("{peer}/{prefix}");
        run("ip", &["-n", ns, "route", "replace", &route, "dev", device]).map(drop)
    }
}
