//! Which MAC seals continuations: a benchmark of the candidates on a typical continuation.
//!
//! Every data packet's request is opened (verify) and every response sealed (tag), so the MAC is
//! on the per-packet path of the server. Candidates, all with a 16-byte tag and keys prepared
//! once (the per-packet work only), on a 96-byte input:
//! - SipHash-2-4 with 128-bit output (`siphasher`), and SipHash-1-3 for reference only (its
//!   reduced rounds have less analysis behind them; not a candidate);
//! - keyed BLAKE3, truncated to 16 bytes;
//! - HMAC-SHA256, truncated to 16 bytes;
//! - AES-128-CMAC (AES-NI when the CPU has it: `grep -o -m1 aes /proc/cpuinfo`);
//! - AEGISMAC-128L and AEGISMAC-128X2 (`aegis` crate, C backend with AES-NI/VAES and a runtime
//!   fallback), with the keyed initial state computed once and cloned per message.
//!
//! Then the nonce PRF candidates (one call yields the words of a packet nonce) and the
//! implementation actually used, `trickles::crypto::Key`, for seal + open and nonces.
//!
//! Run: `cargo bench -p trickles --bench mac_choice -- --warm-up-time 1 --measurement-time 2`.
//! Results and the decision: `docs/MAC-CHOICE.md`.

use std::hint::black_box;

use aegis::aegis128l::Aegis128LMac;
use aegis::aegis128x2::Aegis128X2Mac;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac as _};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::Hmac;
use sha2::Sha256;
use siphasher::sip128::{Hasher128, SipHasher13, SipHasher24};
use std::hash::Hasher as _;
use trickles::crypto::{Key, TAG_LEN};

/// Size of a typical continuation as MAC'ed (pseudo-header, transport fields, short ucont).
const INPUT_LEN: usize = 96;

const KEY16: [u8; 16] = [0x2b; 16];
const KEY32: [u8; 32] = [0x2b; 32];

/// One candidate: computes a 16-byte tag over a message with its prepared key.
trait Candidate {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN];

    fn verify(&self, message: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let expected = u128::from_le_bytes(self.tag(message));
        black_box(expected ^ u128::from_le_bytes(*tag)) == 0
    }
}

struct Sip24 {
    k0: u64,
    k1: u64,
}

impl Candidate for Sip24 {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(message);
        h.finish128().as_bytes()
    }
}

struct Sip13 {
    k0: u64,
    k1: u64,
}

impl Candidate for Sip13 {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(message);
        h.finish128().as_bytes()
    }
}

struct Blake3Keyed {
    key: [u8; 32],
}

impl Candidate for Blake3Keyed {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let hash = blake3::keyed_hash(&self.key, message);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&hash.as_bytes()[..TAG_LEN]);
        tag
    }
}

struct HmacSha256 {
    /// Keyed state (inner and outer pads absorbed), cloned per message.
    keyed: Hmac<Sha256>,
}

impl Candidate for HmacSha256 {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        hmac::Mac::update(&mut mac, message);
        let out = hmac::Mac::finalize(mac).into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&out[..TAG_LEN]);
        tag
    }
}

struct AesCmac {
    /// Keyed state (cipher and subkeys), cloned per message.
    keyed: Cmac<Aes128>,
}

impl Candidate for AesCmac {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

struct Aegis128L {
    /// State after `Init(key, 0)`, cloned per message.
    keyed: Aegis128LMac<TAG_LEN>,
}

impl Candidate for Aegis128L {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.finalize()
    }
}

struct Aegis128X2 {
    /// State after `Init(key, 0)`, cloned per message.
    keyed: Aegis128X2Mac<TAG_LEN>,
}

impl Candidate for Aegis128X2 {
    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.finalize()
    }
}

fn candidates() -> Vec<(&'static str, Box<dyn Candidate>)> {
    let k0 = u64::from_le_bytes([0x2b; 8]);
    vec![
        ("siphash24_128", Box::new(Sip24 { k0, k1: !k0 })),
        ("siphash13_128_reference", Box::new(Sip13 { k0, k1: !k0 })),
        ("blake3_keyed", Box::new(Blake3Keyed { key: KEY32 })),
        (
            "hmac_sha256_trunc16",
            Box::new(HmacSha256 {
                keyed: <Hmac<Sha256> as hmac::Mac>::new_from_slice(&KEY32)
                    .expect("HMAC takes any key length"),
            }),
        ),
        (
            "aes128_cmac",
            Box::new(AesCmac {
                keyed: <Cmac<Aes128> as KeyInit>::new_from_slice(&KEY16)
                    .expect("AES-128 key is 16 bytes"),
            }),
        ),
        (
            "aegismac_128l",
            Box::new(Aegis128L {
                keyed: Aegis128LMac::new(&KEY16),
            }),
        ),
        (
            "aegismac_128x2",
            Box::new(Aegis128X2 {
                keyed: Aegis128X2Mac::new(&KEY16),
            }),
        ),
    ]
}

fn message() -> [u8; INPUT_LEN] {
    core::array::from_fn(|i| (i * 31 + 7) as u8)
}

fn bench_macs(c: &mut Criterion) {
    let message = message();
    for operation in ["tag", "verify", "seal_and_open"] {
        let mut group = c.benchmark_group(format!("mac_{operation}_{INPUT_LEN}B"));
        group.throughput(Throughput::Bytes(INPUT_LEN as u64));
        for (name, candidate) in candidates() {
            let tag = candidate.tag(&message);
            group.bench_function(name, |b| match operation {
                "tag" => b.iter(|| candidate.tag(black_box(&message))),
                "verify" => b.iter(|| candidate.verify(black_box(&message), black_box(&tag))),
                _ => b.iter(|| {
                    let sealed = candidate.tag(black_box(&message));
                    candidate.verify(black_box(&message), black_box(&sealed))
                }),
            });
        }
        group.finish();
    }
}

fn bench_nonce_prfs(c: &mut Criterion) {
    let mut group = c.benchmark_group("nonce_prf_block");
    let k0 = u64::from_le_bytes([0x2b; 8]);
    let stream = 0x0123_4567_89ab_cdef_u64;
    group.bench_function("siphash24_128_4words", |b| {
        b.iter(|| {
            let mut h = SipHasher24::new_with_keys(k0, !k0);
            h.write(&black_box(stream).to_le_bytes());
            h.write(&black_box(1000u64).to_le_bytes());
            h.finish128().as_bytes()
        })
    });
    group.bench_function("siphash13_128_4words_reference", |b| {
        b.iter(|| {
            let mut h = SipHasher13::new_with_keys(k0, !k0);
            h.write(&black_box(stream).to_le_bytes());
            h.write(&black_box(1000u64).to_le_bytes());
            h.finish128().as_bytes()
        })
    });
    let aes = Aes128::new(&KEY16.into());
    group.bench_function("aes128_block_4words", |b| {
        b.iter(|| {
            let mut block = [0u8; 16];
            block[..8].copy_from_slice(&black_box(stream).to_le_bytes());
            block[8..].copy_from_slice(&black_box(1000u64).to_le_bytes());
            let mut block = block.into();
            aes.encrypt_block(&mut block);
            block
        })
    });
    let aegis = Aegis128LMac::<TAG_LEN>::new(&KEY16);
    group.bench_function("aegismac_128l_4words_reference", |b| {
        b.iter(|| {
            let mut mac = aegis.clone();
            mac.update(&black_box(stream).to_le_bytes());
            mac.update(&black_box(1000u64).to_le_bytes());
            mac.finalize()
        })
    });
    group.finish();
}

fn bench_implementation(c: &mut Criterion) {
    let key = Key::from_secret(1, &KEY32);
    let message = message();
    let (head, tail) = message.split_at(18);
    let mut group = c.benchmark_group("trickles_key");
    group.bench_function("seal_and_open_96B_in_two_parts", |b| {
        b.iter(|| {
            let tag = key.tag(black_box(&[head, tail]));
            key.verify(black_box(&[head, tail]), black_box(&tag))
        })
    });
    // One response of 5 packets whose continuations differ only in their last 16 bytes.
    let (shared, per_packet) = message.split_at(INPUT_LEN - 16);
    group.bench_function("seal_5_packets_full", |b| {
        b.iter(|| {
            let mut tags = [[0u8; TAG_LEN]; 5];
            for tag in &mut tags {
                *tag = key.tag(black_box(&[shared, per_packet]));
            }
            tags
        })
    });
    group.bench_function("seal_5_packets_with_mac_prefix", |b| {
        b.iter(|| {
            let prefix = key.mac_prefix(black_box(&[shared]));
            let mut tags = [[0u8; TAG_LEN]; 5];
            for tag in &mut tags {
                *tag = prefix.tag(black_box(&[per_packet]));
            }
            tags
        })
    });
    group.bench_function("packet_nonce", |b| {
        let mut seq = 0u64;
        b.iter(|| {
            seq += 1;
            key.packet_nonce(black_box(7), seq)
        })
    });
    group.bench_function("range_nonce", |b| {
        b.iter(|| key.range_nonce(black_box(7), black_box(100), black_box(163)))
    });
    group.bench_function("fill_packet_nonces_x5", |b| {
        let mut out = [0u32; 5];
        let mut seq = 0u64;
        b.iter(|| {
            seq += 5;
            key.fill_packet_nonces(black_box(7), seq, &mut out);
            out
        })
    });
    group.finish();
}

criterion_group!(benches, bench_macs, bench_nonce_prfs, bench_implementation);
criterion_main!(benches);
