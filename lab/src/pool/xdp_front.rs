//! The balancer's XDP datapath on the namespace testbed (`exp pool --xdp`): the balancer
//! attaches its XDP program natively to its host's veth (`datapath: xdp`,
//! `xdp_interfaces: [eth0]`), so client datagrams and relayed replies are rewritten in the
//! driver and sent back out of the same veth (`XDP_TX`) toward the router.
//!
//! What a veth testbed must do for it, done here (each one, missing, was seen to lose every
//! frame or send every frame up):
//! - a veth delivers `XDP_TX` frames only when its peer runs an XDP program: the router's side
//!   of the balancer's link gets the object's `pass_xdp` (GRO on the peer was not enough on
//!   kernel 6.18); without it the frames vanish with no error counter;
//! - frames between namespaces carry a partial UDP checksum (checksum offload: no wire ever
//!   completes it), which the program updates incrementally and which the receiver then
//!   refuses: the router's side of the link computes checksums in software (`tx off`), as a
//!   real NIC's peer would have;
//! - `bpf_fib_lookup` answers only on an interface that forwards: the balancer's host gets
//!   IPv4 and IPv6 forwarding on, otherwise every frame goes up to the userspace datapath
//!   (counted as `no_route`).

use trickles_balancer::xdp::object::PASS_PROGRAM;
use trickles_balancer::xdp::settings::Datapath;
use trickles_balancer::xdp::XdpBalancer;
use trickles_balancer::BalancerConfigFile;

use aya::programs::XdpMode;

use crate::error::{LabError, Result};
use crate::topology::{Topology, HOST_INTERFACE};

/// Turns `config` into an XDP balancer on the `balancer` host of `topology`, and readies the
/// router's side of its link; the returned program stays attached there while it lives.
pub fn prepare(topology: &Topology, config: &mut BalancerConfigFile) -> Result<XdpBalancer> {
    let testbed = topology.testbed().map_err(|_| {
        LabError::Usage("--xdp needs the namespace testbed (XDP on the hosts' veths)".into())
    })?;
    let host = testbed.host("balancer");
    for key in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
        host.namespace().sysctl(key, "1")?;
    }
    let peer = host.router_interface();
    let router = testbed.router();
    router.exec("ethtool", &["-K", &peer, "tx", "off"])?;
    let attached = router
        .handle()
        .run_inside(|| -> std::result::Result<XdpBalancer, String> {
            let mut program = XdpBalancer::load().map_err(|e| e.to_string())?;
            program
                .attach_program(PASS_PROGRAM, &peer, XdpMode::Driver)
                .map_err(|e| e.to_string())?;
            Ok(program)
        })?;
    let program = attached
        .map_err(|e| LabError::Usage(format!("--xdp: the router's side of the link: {e}")))?;
    config.datapath = Datapath::Xdp;
    config.xdp_interfaces = vec![HOST_INTERFACE.to_owned()];
    Ok(program)
}

/// True when the balancer's metrics say its XDP program is attached.
pub fn attached(metrics: &str) -> bool {
    metrics
        .lines()
        .any(|l| l.trim() == "trickles_balancer_datapath_info{datapath=\"xdp\"} 1")
}

/// Frames the XDP program handed up to the userspace datapath, all reasons.
pub fn passed_up(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("trickles_balancer_xdp_passed_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_say_whether_xdp_ran_and_what_it_passed_up() {
        let text = "trickles_balancer_datapath_info{datapath=\"userspace\"} 0\n\
                    trickles_balancer_datapath_info{datapath=\"xdp\"} 1\n\
                    trickles_balancer_xdp_passed_total{reason=\"no_route\"} 3\n\
                    trickles_balancer_xdp_passed_total{reason=\"upstream\"} 2\n";
        assert!(attached(text));
        assert_eq!(passed_up(text), 5);
        assert!(!attached(
            "trickles_balancer_datapath_info{datapath=\"xdp\"} 0\n"
        ));
    }
}
