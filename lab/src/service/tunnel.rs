//! `trickles-mirror-tunnel` as a [`Service`]: a TUN device whose IP packets travel through the
//! packet mirror to the remote endpoint, so that kernel TCP between the two tunnel addresses
//! crosses the same emulated path as Trickles (docs/NETWORK-FUNCTIONS.md §4.7). Ready once the
//! endpoint has created its device; the lab then configures the device ([`configure`]): both
//! address families, and the MTU that leaves room for the outer headers.
//!
//! [`Service`]: super::Service

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use super::{Service, ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::error::Result;
use crate::topology::command_line::run;

/// Bytes a tunnelled packet gains on the way to the mirror, at most: outer IPv6 (40) and UDP
/// (8) headers and the mirror header with an IPv6 peer (24); an authentication tag would add 15.
pub const TUNNEL_OVERHEAD: u16 = 40 + 8 + 24;

/// One endpoint.
#[derive(Clone, Debug)]
pub struct TunnelSpec {
    /// The mirror's UDP address.
    pub via: SocketAddr,
    /// This endpoint's UDP address (a peer of the mirror).
    pub listen: SocketAddr,
    /// The remote endpoint's UDP address.
    pub remote: SocketAddr,
    /// The TUN device's name in the namespace.
    pub device: String,
    /// The namespace the device appears in (for `ip -n`).
    pub netns: String,
    /// This host's tunnel address.
    pub address: IpAddr,
    /// The remote host's tunnel address (point to point).
    pub peer_address: IpAddr,
    /// The device MTU; the path's MTU minus [`TUNNEL_OVERHEAD`] fits any family.
    pub mtu: u16,
}

impl ServiceSpec for TunnelSpec {
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path> {
        binaries.tunnel()
    }

    fn args(&self, _files: &ServiceFiles) -> Result<Vec<OsString>> {
        Ok([
            "--via".to_owned(),
            self.via.to_string(),
            "--listen".to_owned(),
            self.listen.to_string(),
            "--remote".to_owned(),
            self.remote.to_string(),
            "--tun".to_owned(),
            self.device.clone(),
        ]
        .map(OsString::from)
        .to_vec())
    }

    fn control(&self) -> Option<SocketAddr> {
        None
    }

    fn ready(&self) -> bool {
        run("ip", &["-n", &self.netns, "link", "show", &self.device]).is_ok()
    }

    fn readiness(&self) -> &'static str {
        "to create its TUN device"
    }
}

impl Service<TunnelSpec> {
    /// Addresses the device (point to point), sets its MTU and brings it up.
    pub fn configure(&self) -> Result<()> {
        let spec = self.spec();
        let (ns, device) = (spec.netns.as_str(), spec.device.as_str());
        let (local, peer) = (spec.address.to_string(), spec.peer_address.to_string());
        let mut add = vec![
            "-n", ns, "address", "add", &local, "peer", &peer, "dev", device,
        ];
        if spec.address.is_ipv6() {
            add.push("nodad");
        }
        run("ip", &add)?;
        let mtu = spec.mtu.to_string();
        run("ip", &["-n", ns, "link", "set", device, "mtu", &mtu, "up"])?;
        // IPv4 routes a point-to-point peer by itself; IPv6 does not (only the local address
        // gets a route), so the route to the peer is set explicitly, for both.
        let prefix = if spec.peer_address.is_ipv6() { 128 } else { 32 };
        let route = format!("{peer}/{prefix}");
        Ok(run("ip", &["-n", ns, "route", "replace", &route, "dev", device]).map(drop)?)
    }
}
