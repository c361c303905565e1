//! Ctrl-C for programs that wait on children (the lab): [`install_handlers`] makes SIGINT and
//! SIGTERM set a flag; every waiting loop of [`crate::process`] polls it and returns
//! [`TestkitError::Interrupted`], and unwinding drops the guards, which kill their children.
//! Tests never install the handlers, so for them the flag stays down.
//!
//! The handler only stores into an atomic, which is async-signal-safe.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, TestkitError};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers (a program calls this once at start).
pub fn install_handlers() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is called with a zeroed, then filled, struct; the handler only
        // stores into an atomic, which is async-signal-safe.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(TestkitError::process(
                "installing the SIGINT/SIGTERM handler",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once SIGINT or SIGTERM has arrived.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(TestkitError::Interrupted)
    } else {
        Ok(())
    }
}
