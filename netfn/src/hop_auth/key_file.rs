//! The pool key file: the secret a balancer and its replicas share.
//!
//! ```yaml
//! # trickles pool key: the same file on the balancer and every replica of the pool
//! id: 1                                   # key id, 0 to 255 (carried in every tag)
//! secret: 000102030405060708090a0b0c0d0e0f  # 32 hex digits (16 bytes)
//! ```
//!
//! Make one with `printf 'id: 1\nsecret: %s\n' "$(openssl rand -hex 16)" > pool.key` and
//! `chmod 600 pool.key`. As with the server's key file, a file others may read is loaded with a
//! warning; the secret is never printed (`Debug` shows the id only).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Deserialize;

use crate::mirror_auth::AuthKey;

/// A pool's shared key: the mirror's [`AuthKey`] (id and 16-byte SipHash secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolKey(pub AuthKey);

/// Why a pool key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PoolKeyError {
    /// The file cannot be read.
    #[error("pool key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not `id:` and `secret:` as documented.
    #[error("pool key {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolKeyFile {
    id: u8,
    secret: String,
}

impl PoolKey {
    /// Parse the file's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, PoolKeyError> {
        let format = |reason: String| PoolKeyError::Format {
            path: path.display().to_string(),
            reason,
        };
        let file: PoolKeyFile = serde_yaml::from_str(text)
            .map_err(|e| format(format!("{e} (expected `id: N` and `secret: HEX`)")))?;
        AuthKey::from_hex(file.id, &file.secret)
            .map(PoolKey)
            .map_err(|e| format(e.to_string()))
    }

    /// Read and parse the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PoolKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PoolKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "pool key file is readable by other users; chmod 600 it");
            }
        }
        Self::parse(path, &text)
    }

    /// The key id.
    pub fn id(&self) -> u8 {
        self.0.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_key_file_is_an_id_and_a_secret() {
        let path = Path::new("pool.key");
        let key =
            PoolKey::parse(path, "id: 3\nsecret: 000102030405060708090a0b0c0d0e0f\n").expect("key");
        assert_eq!(key.id(), 3);
        assert!(!format!("{key:?}").contains("0102"));
        for bad in [
            "id: 3\n",
            "id: 300\nsecret: 000102030405060708090a0b0c0d0e0f\n",
            "id: 3\nsecret: 0001\n",
            "id: 3\nsecret: 000102030405060708090a0b0c0d0e0f\nextra: 1\n",
        ] {
            let error = PoolKey::parse(path, bad).expect_err(bad).to_string();
            assert!(error.starts_with("pool key pool.key: "), "{error}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = PoolKey::load(Path::new("/nonexistent/pool.key")).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/pool.key"));
    }
}
