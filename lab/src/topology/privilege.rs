//! The namespace testbeds need root: creating network namespaces takes `CAP_SYS_ADMIN`,
//! configuring their links and qdiscs `CAP_NET_ADMIN`. [`require_root`] checks before anything
//! is created and says which privilege is missing and how to get it.

use crate::error::{LabError, Result};

/// Fails with [`LabError::Privilege`] unless the lab runs as root (effective uid 0).
///
/// `what` names the run for the message, e.g. `"trickles-lab exp memory"`.
pub fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return Ok(());
    }
    Err(LabError::Privilege {
        what: what.to_owned(),
        privilege: "root (CAP_SYS_ADMIN to create network namespaces, CAP_NET_ADMIN to \
                    configure their links and qdiscs)"
            .to_owned(),
        how: format!(
            "run it as root, e.g. `sudo {}`; the loopback demo (`trickles-lab demo`) needs no \
             root (effective uid is {euid})",
            std::env::args().collect::<Vec<_>>().join(" ")
        ),
    })
}
