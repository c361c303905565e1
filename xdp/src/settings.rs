//! Which datapath the balancer runs, as configured: `datapath: userspace | xdp | auto` and
//! the XDP keys beside it.
//!
//! ```yaml
//! datapath: auto              # userspace (default) | xdp | auto (XDP when it can, else userspace)
//! xdp_interfaces: [eth0]      # where the VIP traffic arrives (xdp and auto)
//! xdp_mode: native            # native (driver, default) | generic (skb: any device, slower)
//! xdp_gateway_mac: "02:00:00:00:00:01"  # optional: send every frame to this MAC, no FIB lookup
//! ```
//!
//! `xdp` refuses to start when XDP cannot run; `auto` logs why and runs the userspace
//! datapath. The userspace datapath always listens on the VIP: frames the XDP program hands up
//! reach it there.

use serde::{Deserialize, Serialize};

/// `datapath:` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Datapath {
    /// Sockets and worker threads only.
    #[default]
    Userspace,
    /// The XDP program in front of the userspace datapath; fail to start without it.
    Xdp,
    /// XDP when it can be loaded and attached, the userspace datapath otherwise.
    Auto,
}

impl Datapath {
    /// True for the default (not written when serializing).
    pub fn is_default(&self) -> bool {
        *self == Datapath::Userspace
    }
}

/// `xdp_mode:` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XdpAttachMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`): the fast path; `auto` falls back without it.
    #[default]
    Native,
    /// In the kernel's generic hook (`XDP_FLAGS_SKB_MODE`): any device, after the skb exists.
    Generic,
}

impl XdpAttachMode {
    /// True for the default.
    pub fn is_default(&self) -> bool {
        *self == XdpAttachMode::Native
    }

    /// aya's mode.
    pub fn aya(self) -> aya::programs::XdpMode {
        match self {
            XdpAttachMode::Native => aya::programs::XdpMode::Driver,
            XdpAttachMode::Generic => aya::programs::XdpMode::Skb,
        }
    }
}

/// A MAC address written `02:00:00:00:00:01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddress(pub [u8; 6]);

impl std::str::FromStr for MacAddress {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a MAC address (like 02:00:00:00:00:01)");
        let mut mac = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut mac {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(mac))
    }
}

impl std::fmt::Display for MacAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The validated datapath settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Which datapath.
    pub datapath: Datapath,
    /// Devices the XDP program is attached to.
    pub interfaces: Vec<String>,
    /// How it is attached.
    pub mode: XdpAttachMode,
    /// Gateway mode's next-hop MAC.
    pub gateway_mac: Option<MacAddress>,
}

impl DatapathConfig {
    /// The settings as written (`datapath`, `xdp_interfaces`, `xdp_mode`, `xdp_gateway_mac`),
    /// checked; an error names the key (`xdp_interfaces[1]`, `datapath`) and the reason, for
    /// the configuration's `error_at`.
    pub fn from_file(
        datapath: Datapath,
        interfaces: &[String],
        mode: XdpAttachMode,
        gateway_mac: Option<MacAddress>,
    ) -> Result<Self, (String, String)> {
        for (i, name) in interfaces.iter().enumerate() {
            check_interface_name(name)
                .map_err(|reason| (format!("xdp_interfaces[{i}]"), reason))?;
        }
        if datapath == Datapath::Xdp && interfaces.is_empty() {
            return Err((
                "datapath".to_owned(),
                "datapath xdp needs xdp_interfaces: the devices the traffic arrives on".to_owned(),
            ));
        }
        Ok(DatapathConfig {
            datapath,
            interfaces: interfaces.to_vec(),
            mode,
            gateway_mac,
        })
    }
}

/// Why an interface name is not one (checked while validating the file).
pub fn check_interface_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() < 16
        && !name.contains(['/', ' ', '\t', '\n', ':'])
        && name != "."
        && name != "..";
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not an interface name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_address_reads_and_prints_as_six_hex_pairs() {
        let mac: MacAddress = "02:00:0a:FF:00:01".parse().expect("valid");
        assert_eq!(mac.0, [2, 0, 10, 255, 0, 1]);
        assert_eq!(mac.to_string(), "02:00:0a:ff:00:01");
        for bad in [
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "0200:00:00:00:01",
            "zz:00:00:00:00:01",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_interface_name("veth-bal0").is_ok());
        assert!(check_interface_name("").is_err());
        assert!(check_interface_name("a-name-far-too-long").is_err());
        assert!(check_interface_name("eth0/1").is_err());
    }
}
