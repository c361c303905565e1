//! [`Router`]: the upstream router of the anycast lab: BIRD in the testbed's router namespace,
//! one eBGP session per site (local preference per site: the lab's way of saying which site is
//! nearest), the learned routes in the router's kernel table (ECMP with `merge paths`), and
//! [`Router::route`], which reads that kernel table: where the router sends the anycast address
//! now.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::service::bird::{BgpPeer, BirdRole, BirdSpec, ROUTER_AS, SITE_AS};
use crate::service::Service;
use crate::topology::command_line::run;
use crate::topology::{Family, Topology};

/// The router's BIRD and what it reads.
pub struct Router {
    /// Its BIRD.
    pub bird: Service<BirdSpec>,
    namespace: String,
    anycast: IpAddr,
    /// The router's interface toward each site, and the site's name.
    sites: Vec<(String, String)>,
}

impl Router {
    /// Starts the router's BIRD with a session to each `(site, local preference)`.
    pub fn start(
        binaries: &Binaries,
        topology: &Topology,
        fixture: &ServiceFixture,
        anycast: IpAddr,
        sites: &[(&str, u32)],
    ) -> Result<Self> {
        let testbed = topology.testbed()?;
        let family = topology.family();
        let mut peers = Vec::with_capacity(sites.len());
        let mut hops = Vec::with_capacity(sites.len());
        for (i, &(name, local_pref)) in sites.iter().enumerate() {
            let address = testbed.host(name).address(family);
            peers.push(BgpPeer {
                name: name.replace('-', "_"),
                neighbor: address,
                neighbor_as: SITE_AS + u32::try_from(i).unwrap_or(0),
                local_pref,
                disabled: false,
            });
            hops.push((testbed.host(name).router_interface(), name.to_owned()));
        }
        let spec = BirdSpec {
            router_id: "198.18.254.1".parse().expect("literal"),
            family,
            local_as: ROUTER_AS,
            peers,
            role: BirdRole::Router,
            socket: fixture.path().join("router-bird.ctl"),
        };
        let host = topology.router_host()?;
        let bird = Service::start(binaries, &host, spec, "router-bird", fixture.path())?;
        Ok(Router {
            bird,
            namespace: testbed.router().name().to_owned(),
            anycast,
            sites: hops,
        })
    }

    /// The sites the router's kernel sends the anycast address to now, in site order, joined
    /// with `+` (`site-a`, `site-a+site-b`), or `none`.
    pub fn route(&self) -> Result<String> {
        let flag = match self.anycast {
            IpAddr::V4(_) => "-4",
            IpAddr::V6(_) => "-6",
        };
        let address = self.anycast.to_string();
        let text = run(
            "ip",
            &["-n", &self.namespace, flag, "route", "show", &address],
        )?;
        Ok(sites_in(&self.sites, &text))
    }

    /// Waits until [`route`](Self::route) is `want`, at most `limit`.
    pub fn wait_route(&self, want: &str, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let now = self.route()?;
            if now == want {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(LabError::timeout(
                    format!(
                        "the router's route to {} to be via {want} (it is via {now})",
                        self.anycast
                    ),
                    limit,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The names of the `sites` (router interface, name) whose interfaces `ip route show` printed
/// as next hops, in site order.
fn sites_in(sites: &[(String, String)], text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let devices: Vec<&str> = words
        .windows(2)
        .filter(|pair| pair[0] == "dev")
        .map(|pair| pair[1])
        .collect();
    let names: Vec<&str> = sites
        .iter()
        .filter(|(interface, _)| devices.contains(&interface.as_str()))
        .map(|(_, name)| name.as_str())
        .collect();
    match names.is_empty() {
        true => "none".to_owned(),
        false => names.join("+"),
    }
}

/// The anycast address of a run: `198.18.0.10` or `2001:2::10` (outside every host's link).
pub fn anycast_address(family: Family) -> IpAddr {
    match family {
        Family::V4 => "198.18.0.10".parse().expect("literal"),
        Family::V6 => "2001:2::10".parse().expect("literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_names_its_sites_and_an_ecmp_route_all_of_them() {
        let sites: Vec<(String, String)> = [("h2", "site-a"), ("h3", "site-b")]
            .iter()
            .map(|(i, n)| ((*i).to_owned(), (*n).to_owned()))
            .collect();
        let one = "198.18.0.10 via 198.18.3.2 dev h3 proto bird metric 32\n";
        assert_eq!(sites_in(&sites, one), "site-b");
        let both = "2001:2::10 proto bird metric 32 pref medium\n\tnexthop via \
                    2001:2:0:2::2 dev h2 weight 1\n\tnexthop via fe80::1 dev h3 weight 1\n";
        assert_eq!(sites_in(&sites, both), "site-a+site-b");
        assert_eq!(sites_in(&sites, ""), "none");
    }
}
