//! `trickles-server keygen`: create a key file, or rotate the key of an existing one.
//!
//! ```text
//! trickles-server keygen -o keys.yaml              # new file, one key of epoch 1
//! trickles-server keygen -o keys.yaml --rotate     # new current key (epoch + 1), old one kept
//! trickles-server keygen -o keys.yaml --stage      # new key accepted, not sealing yet
//! trickles-server keygen -o keys.yaml --promote    # the staged key seals, the old one accepted
//! trickles-server keygen -o keys.yaml --retire     # the old key is accepted no more
//! ```
//!
//! After `--rotate` and `--promote` the old key is accepted for
//! [`crate::keyfile::RETIRE_AFTER_SECS`] more (`--accept-previous-for SECONDS` to change it).

use crate::cli::KeygenArgs;
use crate::error::ServerError;
use crate::keyfile::{KeyFile, RETIRE_AFTER_SECS};

/// Epoch of the first key of a new file unless `--epoch` says otherwise.
pub const FIRST_EPOCH: u8 = 1;

/// Carry out `keygen`; returns the key file as written.
pub fn keygen(args: &KeygenArgs) -> Result<KeyFile, ServerError> {
    let changed = |change: &dyn Fn(&KeyFile) -> Result<KeyFile, String>| {
        let existing = KeyFile::load(&args.output)?;
        change(&existing).map_err(|reason| ServerError::key_file(&args.output, reason))
    };
    let retire_at =
        unix_seconds_now().saturating_add(args.accept_previous_for.unwrap_or(RETIRE_AFTER_SECS));
    let keys = if args.rotate {
        changed(&|keys| keys.rotated(args.epoch, retire_at))?
    } else if args.stage {
        changed(&|keys| keys.staged(args.epoch))?
    } else if args.promote {
        changed(&|keys| keys.promoted(retire_at))?
    } else if args.retire {
        changed(&KeyFile::retired)?
    } else {
        if args.output.exists() && !args.force {
            return Err(ServerError::key_file(
                &args.output,
                "already exists (use --rotate to add a key, or --force to replace it)",
            ));
        }
        KeyFile::generate(args.epoch.unwrap_or(FIRST_EPOCH))
    };
    keys.store(&args.output)?;
    Ok(keys)
}

/// The wall clock in UNIX seconds.
fn unix_seconds_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
