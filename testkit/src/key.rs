//! The test key: every in-process server, and every test that builds continuations by hand,
//! uses the same secret, so replicas of a pool can resume each other's connections.

use trickles::crypto::{Key, KeyRing};

/// The test key's epoch.
pub const TEST_EPOCH: u8 = 1;
/// The test key's secret.
pub const TEST_SECRET: [u8; 32] = [7; 32];

/// The key of every test server (epoch [`TEST_EPOCH`], secret [`TEST_SECRET`]).
pub fn test_key() -> Key {
    Key::from_secret(TEST_EPOCH, &TEST_SECRET)
}

/// A key ring holding only [`test_key`].
pub fn test_keys() -> KeyRing {
    KeyRing::new(test_key())
}
