//! Whether this process may load and attach XDP programs: `CAP_BPF` (or `CAP_SYS_ADMIN`) and
//! `CAP_NET_ADMIN` in its effective set, read from `/proc/self/status`. Checked before loading,
//! so an unprivileged `datapath: auto` says exactly which capability it lacks.

use crate::error::XdpError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process (`CapEff`), if readable.
pub fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// `Ok` when the capabilities `caps` allow loading and attaching XDP programs; otherwise the
/// missing ones, named.
pub fn check(caps: u64) -> Result<(), XdpError> {
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(XdpError::Privileges(format!(
            "{} (run as root or grant them, e.g. AmbientCapabilities= in the unit)",
            missing.join(" and ")
        )))
    }
}

/// [`check`] on this process.
pub fn check_this_process() -> Result<(), XdpError> {
    check(effective_capabilities().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unprivileged_process_is_told_which_capabilities_it_lacks() {
        let message = check(0).expect_err("no capabilities").to_string();
        assert!(message.contains("CAP_BPF and CAP_NET_ADMIN"), "{message}");
        let message = check(1 << CAP_BPF).expect_err("no net admin").to_string();
        assert!(message.contains("CAP_NET_ADMIN") && !message.contains("CAP_BPF and"));
        assert!(check((1 << CAP_BPF) | (1 << CAP_NET_ADMIN)).is_ok());
        assert!(check((1 << CAP_SYS_ADMIN) | (1 << CAP_NET_ADMIN)).is_ok());
    }

    #[test]
    fn the_effective_set_is_read_from_proc_status() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
    }
}
