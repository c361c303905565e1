//! BIRD 2 as a [`Service`]: `bird -f -c CONF -s SOCK` in a host, its configuration written from
//! a small typed [`BirdSpec`]; ready when its control socket greets and answers `show status`.
//!
//! Two shapes of configuration, one per role of the anycast lab (docs/ANYCAST.md §3 and §8):
//! - **the router** ([`BirdRole::Router`]): one eBGP session per site, each site's routes
//!   imported with the local preference the lab gives it, and everything learned exported to
//!   the kernel with `merge paths` (equal routes become one ECMP route);
//! - **a site** ([`BirdRole::Site`]): the service prefix as a `disabled` static route guarded by
//!   BFD to the controller's next hop, exported (only it) over eBGP to the router; the
//!   controller enables and disables the static protocol.
//!
//! Timers: BGP hold 3 s, keepalive 1 s, connect delay and retry 1 s (a session comes up about a
//! second after both ends start); BFD to the controller 100 ms × 3.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use trickles_anycast::bird::BirdClient;

use super::{Service, ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::topology::Family;

/// The router's AS; site `i` (from 0) is `SITE_AS + i`.
pub const ROUTER_AS: u32 = 64512;
/// The first site's AS.
pub const SITE_AS: u32 = 64513;

/// One eBGP neighbour.
#[derive(Clone, Debug)]
pub struct BgpPeer {
    /// The BIRD protocol's name (`site_a`, `uplink`).
    pub name: String,
    /// Its address on the shared link.
    pub neighbor: IpAddr,
    /// Its AS.
    pub neighbor_as: u32,
    /// Local preference of the routes it sends (the router's choice between sites).
    pub local_pref: u32,
    /// Starts disabled (a site that joins later: `enable NAME`).
    pub disabled: bool,
}

/// What the BIRD is.
#[derive(Clone, Debug)]
pub enum BirdRole {
    /// The upstream router: imports the sites' routes, installs them in the kernel (ECMP).
    Router,
    /// A site: announces `prefix` through the static protocol `protocol`, guarded by BFD to
    /// `bfd_next_hop` on `bfd_interface`.
    Site {
        /// The static protocol the controller enables and disables.
        protocol: String,
        /// The anycast address (announced as a /32 or /128).
        prefix: IpAddr,
        /// The controller's BFD address (far end of the veth pair).
        bfd_next_hop: IpAddr,
        /// BIRD's end of the veth pair.
        bfd_interface: String,
    },
}

/// One BIRD.
#[derive(Clone, Debug)]
pub struct BirdSpec {
    /// Router id (any unique IPv4 address).
    pub router_id: Ipv4Addr,
    /// The address family its sessions and routes use.
    pub family: Family,
    /// Its AS.
    pub local_as: u32,
    /// Its eBGP neighbours.
    pub peers: Vec<BgpPeer>,
    /// Router or site.
    pub role: BirdRole,
    /// Its control socket (`bird -s`), also how the lab talks to it.
    pub socket: PathBuf,
}

impl BirdSpec {
    /// The configuration file's text.
    pub fn config_text(&self) -> String {
        let channel = match self.family {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        };
        let mut text = format!(
            "router id {};\nlog stderr all;\nprotocol device {{ scan time 10; }}\n",
            self.router_id
        );
        let export = match &self.role {
            BirdRole::Router => {
                let _ = writeln!(
                    text,
                    "protocol kernel {{ {channel} {{ export all; }}; merge paths on; }}"
                );
                "export none;".to_owned()
            }
            BirdRole::Site {
                protocol,
                prefix,
                bfd_next_hop,
                bfd_interface,
            } => {
                let length = if prefix.is_ipv4() { 32 } else { 128 };
                let _ = write!(
                    text,
                    "protocol bfd anycast_bfd {{ interface \"{bfd_interface}\" {{ min rx interval \
                     100 ms; min tx interval 100 ms; idle tx interval 300 ms; multiplier 3; }}; }}\n\
                     protocol static {protocol} {{ {channel}; disabled; route {prefix}/{length} \
                     via {bfd_next_hop}%'{bfd_interface}' bfd; }}\n\
                     filter {protocol}_out {{ if proto = \"{protocol}\" then accept; reject; }}\n"
                );
                format!("export filter {protocol}_out; next hop self;")
            }
        };
        for peer in &self.peers {
            let import = match self.role {
                BirdRole::Router => format!(
                    "import filter {{ bgp_local_pref = {}; accept; }};",
                    peer.local_pref
                ),
                BirdRole::Site { .. } => "import none;".to_owned(),
            };
            let _ = writeln!(
                text,
                "protocol bgp {} {{ {}local as {}; neighbor {} as {}; hold time 3; keepalive \
                 time 1; connect delay time 1; connect retry time 1; error wait time 1, 5; \
                 {channel} {{ {import} {export} }}; }}",
                peer.name,
                if peer.disabled { "disabled; " } else { "" },
                self.local_as,
                peer.neighbor,
                peer.neighbor_as,
            );
        }
        text
    }
}

impl ServiceSpec for BirdSpec {
    fn program<'a>(&self, _: &'a Binaries) -> Result<&'a Path> {
        bird_program()
    }

    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>> {
        let path = files.file("conf");
        std::fs::write(&path, self.config_text()).map_err(|e| LabError::io(&path, e))?;
        Ok(vec![
            "-f".into(),
            "-c".into(),
            path.into(),
            "-s".into(),
            self.socket.clone().into(),
        ])
    }

    fn control(&self) -> Option<SocketAddr> {
        None
    }

    fn ready(&self) -> bool {
        BirdClient::connect(&self.socket, Duration::from_millis(500))
            .and_then(|mut bird| bird.command("show status"))
            .is_ok()
    }

    fn readiness(&self) -> &'static str {
        "to answer on its control socket"
    }
}

impl Service<BirdSpec> {
    /// `enable NAME` (`true`) or `disable NAME` (`false`) through the control socket.
    pub fn switch(&self, protocol: &str, enable: bool) -> Result<()> {
        let socket = &self.spec().socket;
        let fail = |e: trickles_anycast::bird::BirdError| LabError::Testbed {
            command: format!("birdc -s {} {protocol}", socket.display()),
            reason: e.to_string(),
        };
        let mut bird = BirdClient::connect(socket, Duration::from_secs(2)).map_err(fail)?;
        match enable {
            true => bird.enable(protocol).map_err(fail)?,
            false => bird.disable(protocol).map_err(fail)?,
        };
        Ok(())
    }
}

/// `bird` from the `PATH` or the sbin directories (root's `PATH` may lack them).
fn bird_program() -> Result<&'static Path> {
    static BIRD: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIRD.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
            .map(|dir| dir.join("bird"))
            .find(|candidate| candidate.is_file())
    })
    .as_deref()
    .ok_or_else(|| LabError::Testbed {
        command: "bird".to_owned(),
        reason: "BIRD 2 is not installed (scripts/setup installs bird2)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(family: Family) -> BirdSpec {
        let (neighbor, prefix, hop): (IpAddr, IpAddr, IpAddr) = match family {
            Family::V4 => (
                "198.18.2.1".parse().expect("ip"),
                "198.18.0.10".parse().expect("ip"),
                "198.18.255.2".parse().expect("ip"),
            ),
            Family::V6 => (
                "2001:2:0:2::1".parse().expect("ip"),
                "2001:2::10".parse().expect("ip"),
                "2001:2:0:ff::2".parse().expect("ip"),
            ),
        };
        BirdSpec {
            router_id: Ipv4Addr::new(198, 18, 254, 2),
            family,
            local_as: SITE_AS,
            peers: vec![BgpPeer {
                name: "uplink".to_owned(),
                neighbor,
                neighbor_as: ROUTER_AS,
                local_pref: 100,
                disabled: true,
            }],
            role: BirdRole::Site {
                protocol: "anycast".to_owned(),
                prefix,
                bfd_next_hop: hop,
                bfd_interface: "anycast-bird".to_owned(),
            },
            socket: PathBuf::from("/tmp/bird.ctl"),
        }
    }

    /// BIRD's own parser (`bird -p`) accepts what the lab writes, for both roles and families.
    #[test]
    fn bird_accepts_the_written_configurations() {
        let Ok(bird) = bird_program() else {
            eprintln!("skipped: bird is not installed");
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        for family in [Family::V4, Family::V6] {
            let mut router = site(family);
            router.role = BirdRole::Router;
            router.peers[0].disabled = false;
            for (name, spec) in [("site", site(family)), ("router", router)] {
                let path = dir.path().join(format!("{name}.conf"));
                std::fs::write(&path, spec.config_text()).expect("write");
                let out = std::process::Command::new(bird)
                    .arg("-p")
                    .arg("-c")
                    .arg(&path)
                    .output()
                    .expect("bird -p");
                assert!(
                    out.status.success(),
                    "{name} {family:?}: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    spec.config_text()
                );
            }
        }
    }
}
