//! `trickles-server keygen`: create a key file, or rotate the key of an existing one.
//!
//! ```text
//! trickles-server keygen -o keys.yaml              # new file, one key of epoch 1
//! trickles-server keygen -o keys.yaml --rotate     # new current key (epoch + 1), old one kept
//! trickles-server keygen -o keys.yaml --stage      # new key accepted, not sealing yet
//! trickles-server keygen -o keys.yaml --promote    # the staged key seals, the old one accepted
//! ```

use crate::cli::KeygenArgs;
use crate::error::ServerError;
use crate::keyfile::KeyFile;

/// Epoch of the first key of a new file unless `--epoch` says otherwise.
pub const FIRST_EPOCH: u8 = 1;

/// Carry out `keygen`; returns the key file as written.
pub fn keygen(args: &KeygenArgs) -> Result<KeyFile, ServerError> {
    let changed = |change: &dyn Fn(&KeyFile) -> Result<KeyFile, String>| {
        let existing = KeyFile::load(&args.output)?;
        change(&existing).map_err(|reason| ServerError::key_file(&args.output, reason))
    };
    let keys = if args.rotate {
        changed(&|keys| keys.rotated(args.epoch))?
    } else if args.stage {
        changed(&|keys| keys.staged(args.epoch))?
    } else if args.promote {
        changed(&KeyFile::promoted)?
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
