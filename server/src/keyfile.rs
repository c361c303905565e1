//! The key file: the secrets a replica pool shares, one per key *epoch*.
//!
//! Every continuation names the epoch of the key that sealed it, and a server accepts the current
//! epoch and one other, so a pool rotates its secret without dropping connections:
//!
//! - quick: `keygen --rotate -o keys.yaml` makes a new key current and keeps the old one
//!   accepted; copy the file to every replica and send each `SIGHUP`. While the copies roll out,
//!   a continuation sealed by an updated replica is refused by one not yet updated (the client
//!   retries after a timeout).
//! - without a single drop: `keygen --stage` adds the new key as accepted-only; roll that out
//!   everywhere; then `keygen --promote` makes it current (the old key stays accepted); roll out
//!   again.
//!
//! The old key is not accepted for ever: `--rotate` and `--promote` write the time it retires,
//! [`RETIRE_AFTER_SECS`] later by default (one freshness period plus the clock skew: every
//! continuation it sealed is stale by then; `--accept-previous-for SECONDS` for a slower
//! roll-out). From then on it opens no continuation. `keygen --retire` removes it at once.
//! A staged key carries no retirement time.
//!
//! The format is a YAML list, the current key first, at most one previous key after it:
//!
//! ```yaml
//! - epoch: 2
//!   secret: 8f0c...(64 hex digits, 32 bytes)
//! - epoch: 1
//!   secret: 5b1e...
//!   accepted_until: 1764860000   # UNIX seconds; absent: accepted until the next change
//! ```
//!
//! Files are written with mode 0600 (through a temporary file and a rename, so a reader never
//! sees half a file); loading a file that others may read logs a warning.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use trickles::crypto::{Key, KeyRing};
use trickles::time::Instant;

use crate::error::ServerError;

pub use trickles::crypto::SECRET_LEN;

/// Seconds a previous key keeps opening continuations after `--rotate` or `--promote`: the
/// freshness limit plus the allowed clock skew of the core's defaults (30 s + 2 s).
pub const RETIRE_AFTER_SECS: u64 = 32;

/// One key: its epoch and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The epoch continuations sealed with this key carry.
    pub epoch: u8,
    /// The shared secret.
    pub secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret (it would land in logs).
        f.debug_struct("KeyEntry")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The contents of a key file: the current key and, during a rotation, one other accepted key
/// (the previous one, or the next one while a staged rotation rolls out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFile {
    /// The key new continuations are sealed with.
    pub current: KeyEntry,
    /// Another key still (or already) accepted, never used to seal.
    pub previous: Option<KeyEntry>,
    /// When (UNIX seconds) the previous key stops opening continuations; `None` for a staged
    /// key (or a file written before retirement existed).
    pub previous_until: Option<u64>,
}

/// One list item as it is written in YAML.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntryYaml {
    epoch: u8,
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accepted_until: Option<u64>,
}

impl KeyFile {
    /// A key file holding one fresh random key of epoch `epoch`.
    pub fn generate(epoch: u8) -> Self {
        KeyFile {
            current: KeyEntry {
                epoch,
                secret: random_secret(),
            },
            previous: None,
            previous_until: None,
        }
    }

    /// The file after a rotation: a fresh random key becomes current (epoch `epoch`, or the
    /// current epoch + 1 wrapping), the current key becomes the previous one, accepted until
    /// `retire_at` (UNIX seconds), and the older previous key is dropped. Fails if `epoch`
    /// equals the current epoch.
    pub fn rotated(&self, epoch: Option<u8>, retire_at: u64) -> Result<Self, String> {
        let epoch = epoch.unwrap_or(self.current.epoch.wrapping_add(1));
        if epoch == self.current.epoch {
            return Err(format!("new epoch {epoch} equals the current epoch"));
        }
        Ok(KeyFile {
            current: KeyEntry {
                epoch,
                secret: random_secret(),
            },
            previous: Some(self.current.clone()),
            previous_until: Some(retire_at),
        })
    }

    /// The file with a fresh random key (epoch `epoch`, or the current epoch + 1) added as the
    /// accepted-only key; the current key is unchanged. Stage one of a drop-free rotation.
    pub fn staged(&self, epoch: Option<u8>) -> Result<Self, String> {
        let epoch = epoch.unwrap_or(self.current.epoch.wrapping_add(1));
        if epoch == self.current.epoch {
            return Err(format!("new epoch {epoch} equals the current epoch"));
        }
        Ok(KeyFile {
            current: self.current.clone(),
            previous: Some(KeyEntry {
                epoch,
                secret: random_secret(),
            }),
            previous_until: None,
        })
    }

    /// The file with its two keys swapped: the accepted-only key seals from now on and the
    /// current one stays accepted until `retire_at` (UNIX seconds). Stage two of a drop-free
    /// rotation.
    pub fn promoted(&self, retire_at: u64) -> Result<Self, String> {
        let next = self
            .previous
            .clone()
            .ok_or("holds a single key: nothing to promote (use --stage first)")?;
        Ok(KeyFile {
            current: next,
            previous: Some(self.current.clone()),
            previous_until: Some(retire_at),
        })
    }

    /// The file without its previous key: the old key opens nothing from the next reload.
    pub fn retired(&self) -> Result<Self, String> {
        if self.previous.is_none() {
            return Err("holds a single key: nothing to retire".into());
        }
        Ok(KeyFile {
            current: self.current.clone(),
            previous: None,
            previous_until: None,
        })
    }

    /// Parse the YAML text of a key file; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ServerError> {
        let items: Vec<KeyEntryYaml> = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}: ", l.line()))
                .unwrap_or_default();
            ServerError::key_file(path, format!("{at}{e}"))
        })?;
        if let Some(first) = items.first().filter(|item| item.accepted_until.is_some()) {
            return Err(ServerError::key_file(
                path,
                format!(
                    "key 1 (epoch {}) is the current key: `accepted_until` belongs to the second",
                    first.epoch
                ),
            ));
        }
        let previous_until = items.get(1).and_then(|item| item.accepted_until);
        let mut entries = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let secret = decode_secret(&item.secret).map_err(|reason| {
                ServerError::key_file(
                    path,
                    format!("key {} (epoch {}): {reason}", index + 1, item.epoch),
                )
            })?;
            entries.push(KeyEntry {
                epoch: item.epoch,
                secret,
            });
        }
        let mut entries = entries.into_iter();
        let current = entries
            .next()
            .ok_or_else(|| ServerError::key_file(path, "holds no key"))?;
        let previous = entries.next();
        if entries.next().is_some() {
            return Err(ServerError::key_file(
                path,
                "holds more than two keys (only the current and one previous are allowed)",
            ));
        }
        if let Some(previous) = &previous {
            if previous.epoch == current.epoch {
                return Err(ServerError::key_file(
                    path,
                    format!("current and previous keys share epoch {}", current.epoch),
                ));
            }
        }
        Ok(KeyFile {
            current,
            previous,
            previous_until,
        })
    }

    /// The YAML text of this key file.
    pub fn to_yaml(&self) -> String {
        let items: Vec<KeyEntryYaml> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .enumerate()
            .map(|(index, k)| KeyEntryYaml {
                epoch: k.epoch,
                secret: hex::encode(k.secret),
                accepted_until: self.previous_until.filter(|_| index == 1),
            })
            .collect();
        let body = serde_yaml::to_string(&items).unwrap_or_default();
        format!("# trickles key file: the first key is current, the second (if any) the previous one.\n{body}")
    }

    /// Read and parse the key file at `path`.
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "key file is readable by other users; chmod 600 it");
            }
        }
        Self::parse(path, &text)
    }

    /// Write this key file to `path` with mode 0600, atomically (temporary file + rename).
    pub fn store(&self, path: &Path) -> Result<(), ServerError> {
        let temporary = temporary_path(path);
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(self.to_yaml().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            ServerError::io(path, e)
        })
    }

    /// The key ring the protocol core verifies and seals continuations with: the first key
    /// seals, the second is also accepted (until its retirement time, if it has one).
    pub fn key_ring(&self) -> KeyRing {
        let current = Key::from_secret(self.current.epoch, &self.current.secret);
        let Some(previous) = &self.previous else {
            return KeyRing::new(current);
        };
        let ring =
            KeyRing::with_previous(current, Key::from_secret(previous.epoch, &previous.secret));
        match self.previous_until {
            Some(seconds) => ring.retire_previous_at(Instant(seconds.saturating_mul(1_000_000))),
            None => ring,
        }
    }
}

/// Decode a secret written as 64 hex digits.
fn decode_secret(text: &str) -> Result<[u8; SECRET_LEN], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("secret is not valid hex: {e}"))?;
    <[u8; SECRET_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "secret is {} bytes long, expected {SECRET_LEN} ({} hex digits)",
            bytes.len(),
            SECRET_LEN * 2
        )
    })
}

/// 32 bytes from the operating system's random generator.
fn random_secret() -> [u8; SECRET_LEN] {
    let mut secret = [0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// A sibling of `path` to write before renaming over it.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}
