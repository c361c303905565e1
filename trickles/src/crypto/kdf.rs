//! Key derivation: HKDF-SHA256 (RFC 5869) from a key epoch's secret to its subkeys.
//!
//! Each epoch's 32-byte secret yields independent 128-bit subkeys, one per purpose, with the
//! purpose label and the epoch number in HKDF's `info`:
//!
//! ```text
//! PRK    = HMAC-SHA256(key = "trickles/v1 key epoch", msg = secret)          (extract)
//! subkey = HMAC-SHA256(key = PRK, msg = label || epoch || 0x01)[..16]    (expand, one block)
//! label  = "trickles/v1 continuation mac" | "trickles/v1 packet nonce"
//! ```
//!
//! Derivation runs once per key epoch, never per packet, so its cost does not matter.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SECRET_LEN;

/// HKDF salt: fixes the protocol version of the derivation.
const SALT: &[u8] = b"trickles/v1 key epoch";

/// Length of a derived subkey, in bytes (SipHash keys are 128-bit).
pub(super) const SUBKEY_LEN: usize = 16;

/// What a subkey is for; each purpose has its own HKDF label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    ContinuationMac,
    PacketNonce,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::ContinuationMac => b"trickles/v1 continuation mac",
            Purpose::PacketNonce => b"trickles/v1 packet nonce",
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Derives the subkey for `purpose` of epoch `epoch` from `secret`.
pub(super) fn derive_subkey(
    secret: &[u8; SECRET_LEN],
    epoch: u8,
    purpose: Purpose,
) -> [u8; SUBKEY_LEN] {
    let prk = hmac_sha256(SALT, &[secret]);
    let okm = hmac_sha256(&prk, &[purpose.label(), &[epoch], &[0x01]]);
    let mut subkey = [0u8; SUBKEY_LEN];
    subkey.copy_from_slice(&okm[..SUBKEY_LEN]);
    subkey
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; fall back to an
    // explicit all-zero output rather than panicking to honour the no-panic rule anyway.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0u8; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let out = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn purposes_and_epochs_give_independent_subkeys() {
        let secret = [7u8; SECRET_LEN];
        let mac = derive_subkey(&secret, 1, Purpose::ContinuationMac);
        let nonce = derive_subkey(&secret, 1, Purpose::PacketNonce);
        let mac_next_epoch = derive_subkey(&secret, 2, Purpose::ContinuationMac);
        assert_ne!(mac, nonce);
        assert_ne!(mac, mac_next_epoch);
        assert_eq!(mac, derive_subkey(&secret, 1, Purpose::ContinuationMac));
    }
}
