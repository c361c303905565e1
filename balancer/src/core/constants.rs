//! Constants and the per-packet hash that every datapath of the balancer must share (the
//! userspace one here, an XDP one later): where the key is in a datagram, how it is mixed, and
//! the default table size. Change them only together with the other datapaths.

/// Byte range of the Trickles connection id in every datagram (`docs/PROTOCOL.md` §2): bytes
/// 2..10, big-endian. Every Trickles version keeps it there.
pub const CONN_ID_RANGE: core::ops::Range<usize> = 2..10;

/// Shortest datagram the balancer forwards from a client: one that has a connection id.
pub const MIN_CLIENT_DATAGRAM: usize = CONN_ID_RANGE.end;

/// Default Maglev table size: the prime the Maglev paper uses for its measurements.
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;

/// Largest accepted table size (a `u32` index per slot: 64 MiB at most).
pub const MAX_TABLE_SIZE: u32 = 16_777_259;

/// Multiplier of the key mixer (the splitmix64 finalizer).
pub const MIX_MUL_1: u64 = 0xBF58_476D_1CE4_E5B9;
/// Second multiplier of the key mixer.
pub const MIX_MUL_2: u64 = 0x94D0_49BB_1331_11EB;

/// SipHash keys for the backend permutations (offset and skip): any fixed values work, as
/// long as every balancer uses the same ones.
pub const PERMUTATION_KEYS: [(u64, u64); 2] = [
    (0x7472_6963_6b6c_6573, 0x6d61_676c_6576_3031),
    (0x6261_6c61_6e63_6572, 0x736b_6970_7365_6564),
];

/// The connection id of a datagram, without checking anything else; `None` when it is too
/// short to have one.
pub fn connection_id(datagram: &[u8]) -> Option<u64> {
    let bytes = datagram.get(CONN_ID_RANGE)?;
    let mut id = [0u8; 8];
    id.copy_from_slice(bytes);
    Some(u64::from_be_bytes(id))
}

/// Mix a connection id into a well-spread 64-bit key (so ids chosen badly by a client, such as
/// counters, still spread over the table). The splitmix64 finalizer: a bijection, three
/// multiply-xorshift rounds, trivial in C.
pub fn mix(id: u64) -> u64 {
    let mut z = id;
    z = (z ^ (z >> 30)).wrapping_mul(MIX_MUL_1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX_MUL_2);
    z ^ (z >> 31)
}

/// Map a 64-bit key uniformly onto `0..size` with a multiply and a shift (Lemire's fast range
/// reduction) instead of a division: `⌊key · size / 2⁶⁴⌋`. Uses the key's high bits, which the
/// mixer makes uniform.
pub fn reduce(key: u64, size: u64) -> u64 {
    ((u128::from(key) * u128::from(size)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_id_is_bytes_two_to_ten_big_endian() {
        let datagram = [1, 2, 0, 0, 0, 0, 0, 0, 1, 0xFF, 9];
        assert_eq!(connection_id(&datagram), Some(0x01FF));
        assert_eq!(connection_id(&datagram[..9]), None);
    }

    #[test]
    fn reduction_stays_in_range_and_covers_it() {
        assert_eq!(reduce(0, 7), 0);
        assert_eq!(reduce(u64::MAX, 7), 6);
        assert_eq!(reduce(1 << 63, 10), 5);
    }

    #[test]
    fn mixer_matches_the_reference_vector() {
        // splitmix64's first output for seed 0 is mix(0x9E3779B97F4A7C15).
        assert_eq!(mix(0x9E37_79B9_7F4A_7C15), 0xE220_A839_7B1D_CDAF);
    }
}
