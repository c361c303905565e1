//! The mirror's XDP datapath against its userspace decision, on one table of frames (IPv4 and
//! IPv6): the same datagram through [`Mirror::on_datagram`] and through the compiled program
//! (`BPF_PROG_TEST_RUN`) must be refused for the same reason or forwarded to the same place
//! with the same bytes (tagged datagrams too: good, bad, stale, unknown keys); WAN-emulated
//! directions and the other family go up to userspace unchanged; the counters match.
//!
//! Needs root and a binary built with clang: without them it prints why and checks nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use trickles_link::time::Instant;
use trickles_mirror::mirror::Fate;
use trickles_mirror::reject::Reject;
use trickles_mirror::xdp::abi::PASS_NAMES;
use trickles_mirror::xdp::XdpMirror;
use trickles_mirror::{Mirror, MirrorSettings};
use trickles_netfn::encap::{EncapRepr, FLAG_DIRECT_RETURN};
use trickles_netfn::mirror_auth::{padding, AuthKey, AuthOption};
use trickles_netfn::ConfigSource;
use trickles_testkit::frames::{frame, parse, GATEWAY_MAC, OUR_MAC};
use trickles_xdp::kit::action;
use trickles_xdp::privileges::check_this_process;
use trickles_xdp::XdpError;

const SECRET: &str = "000102030405060708090a0b0c0d0e0f";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

const CONFIG: &str = "\
listen: [\"198.18.5.1:7000\", \"[2001:2:5::1]:7000\"]
peers:
  - name: clients
    addresses: [\"198.18.1.0/24\", \"2001:2:1::/48\"]
    side: client
  - name: vip
    addresses: [\"198.18.0.1:4433\", \"[2001:2::1]:4433\"]
    side: server
    reach: any
  - name: one-client
    addresses: [\"198.18.1.77\", \"2001:2:1::77\"]
    side: client
  - name: laptop
    addresses: [\"198.18.9.0/24\", \"2001:2:9::/48\"]
    keys: [{ id: 1, secret: \"000102030405060708090a0b0c0d0e0f\" }]
    side: client
source_limits: { packets_per_sec: 1, packet_burst: 3, bytes_per_sec: 1000000, byte_burst: 1000000,
                 credit_cap_bytes: 1048576, table_slots: 1024 }
";

fn sa(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

fn settings(extra: &str) -> MirrorSettings {
    MirrorSettings::from_source(&ConfigSource::from_text(
        "mirror.yaml",
        format!("{CONFIG}{extra}"),
    ))
    .expect("config")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Handling {
    Decides,
    PassesUp(Option<&'static str>),
}

struct Fixture {
    name: String,
    frame: Vec<u8>,
    handling: Handling,
}

/// The addresses of one family: (mirror, client prefix base, vip, one-client, laptop, stranger).
fn family(v6: bool) -> [SocketAddr; 6] {
    if v6 {
        [
            sa("[2001:2:5::1]:7000"),
            sa("[2001:2:1::10]:40000"),
            sa("[2001:2::1]:4433"),
            sa("[2001:2:1::77]:40000"),
            sa("[2001:2:9::5]:40000"),
            sa("[2001:2:7::7]:40000"),
        ]
    } else {
        [
            sa("198.18.5.1:7000"),
            sa("198.18.1.10:40000"),
            sa("198.18.0.1:4433"),
            sa("198.18.1.77:40000"),
            sa("198.18.9.5:40000"),
            sa("198.18.7.7:40000"),
        ]
    }
}

/// A client address of the `clients` prefix, different for every `n` (a fresh guard slot).
fn client(v6: bool, n: u8) -> SocketAddr {
    if v6 {
        sa(&format!("[2001:2:1::1:{n:x}]:40000"))
    } else {
        sa(&format!("198.18.1.{}:40000", 100 + n))
    }
}

fn fixtures(v6: bool) -> Vec<Fixture> {
    let [mirror, _, vip, one, laptop, stranger] = family(v6);
    let tag = if v6 { "V6" } else { "V4" };
    let wrap = |to: SocketAddr, inner: &[u8]| EncapRepr::new(to).encapsulate(inner);
    let decides = |name: &str, from: SocketAddr, payload: Vec<u8>| Fixture {
        name: format!("{tag} {name}"),
        frame: frame(from, mirror, &payload),
        handling: Handling::Decides,
    };
    let passes = |name: &str, f: Vec<u8>, reason: Option<&'static str>| Fixture {
        name: format!("{tag} {name}"),
        frame: f,
        handling: Handling::PassesUp(reason),
    };
    let inner = b"\x01\x02\x00\x00\x00\x00\x00\x00\x00\x07 a trickles datagram".to_vec();
    let mut list = vec![
        decides("client to the vip", client(v6, 1), wrap(vip, &inner)),
        decides("vip to a client", vip, wrap(client(v6, 2), &inner)),
        decides("the most specific pattern wins", one, wrap(vip, &inner)),
        decides("unknown source", stranger, wrap(vip, &inner)),
        decides("a peer with keys sends no tag", laptop, wrap(vip, &inner)),
        decides(
            "client to an address no peer lists",
            client(v6, 3),
            wrap(stranger, &inner),
        ),
        decides(
            "vip to port 0",
            vip,
            wrap(SocketAddr::new(vip.ip(), 0), &inner),
        ),
        decides(
            "vip to a multicast group",
            vip,
            wrap(
                if v6 {
                    sa("[ff02::1]:9")
                } else {
                    sa("224.0.0.1:9")
                },
                &inner,
            ),
        ),
        decides("vip to the mirror itself", vip, wrap(mirror, &inner)),
        decides("from the mirror's own address", mirror, wrap(vip, &inner)),
        decides("not encapsulated", client(v6, 4), inner.clone()),
        decides("one byte", client(v6, 5), vec![0xEC]),
    ];
    let mut bad = wrap(vip, &inner);
    bad[2] = 7;
    list.push(decides("header version 7", client(v6, 6), bad));
    let good = wrap(vip, b"");
    list.push(decides(
        "truncated header",
        client(v6, 7),
        good[..good.len() - 2].to_vec(),
    ));
    for i in 0..4 {
        list.push(decides(
            &format!("a source's datagram {} (burst of 3)", i + 1),
            client(v6, 8),
            wrap(vip, &inner),
        ));
    }
    let mut padded = wrap(vip, &inner);
    let base = padded[5] as usize;
    let pad = padding(8).expect("padding");
    padded.splice(base..base, pad);
    padded[5] += 8;
    list.push(decides("a header with padding", client(v6, 9), padded));
    // Tagged datagrams: the option after the header, as the end-host shim writes it.
    let key = AuthKey::from_hex(1, SECRET).expect("key");
    let now = now_secs();
    let tagged = |key: &AuthKey, timestamp: u64, to: SocketAddr, inner: &[u8]| {
        let mut bytes = wrap(to, inner);
        let base = bytes[5] as usize;
        let option = AuthOption::sign(key, timestamp as u32, 0, to, inner).to_bytes();
        bytes.splice(base..base, option);
        bytes[5] += option.len() as u8;
        bytes
    };
    let laptop_at = |n: u8| {
        if v6 {
            sa(&format!("[2001:2:9::{n:x}]:40000"))
        } else {
            sa(&format!("198.18.9.{n}:40000"))
        }
    };
    list.push(decides(
        "a tagged datagram from the laptop",
        laptop_at(21),
        tagged(&key, now, vip, &inner),
    ));
    list.push(decides(
        "a tagged 1200-byte datagram",
        laptop_at(22),
        tagged(&key, now, vip, &[0x5A; 1200]),
    ));
    list.push(decides(
        "a tag under an unknown key",
        laptop_at(23),
        tagged(
            &AuthKey::from_hex(9, SECRET).expect("key"),
            now,
            vip,
            &inner,
        ),
    ));
    list.push(decides(
        "the laptop's tag from outside its addresses",
        stranger,
        tagged(&key, now, vip, &inner),
    ));
    let mut bad_tag = tagged(&key, now, vip, &inner);
    let last = bad_tag.len() - 1;
    bad_tag[last] ^= 1;
    list.push(decides("a tag over other bytes", laptop_at(24), bad_tag));
    list.push(decides(
        "a tag from 1000 s ago",
        laptop_at(25),
        tagged(&key, now - 1000, vip, &inner),
    ));
    let mut flags_changed = tagged(&key, now, vip, &inner);
    flags_changed[4] = FLAG_DIRECT_RETURN;
    list.push(decides(
        "a tag over other header flags",
        laptop_at(27),
        flags_changed,
    ));
    list.push(decides(
        "client to a client-side peer",
        client(v6, 12),
        wrap(one, &inner),
    ));
    let mut direct = wrap(vip, &inner);
    direct[4] = FLAG_DIRECT_RETURN;
    list.push(decides(
        "a client asks for direct return",
        client(v6, 13),
        direct,
    ));
    let mut direct = wrap(client(v6, 14), &inner);
    direct[4] = FLAG_DIRECT_RETURN;
    list.push(decides("the vip asks for direct return", vip, direct));
    let mut short_option = tagged(&key, now, vip, &inner);
    short_option[base + 1] = 12;
    list.push(decides(
        "an auth option of 12 bytes",
        laptop_at(26),
        short_option,
    ));
    let other = if v6 {
        sa("198.18.0.1:4433")
    } else {
        sa("[2001:2::1]:4433")
    };
    list.push(passes(
        "client to the other family",
        frame(client(v6, 10), mirror, &wrap(other, &inner)),
        Some("family"),
    ));
    let mut elsewhere = mirror;
    elsewhere.set_port(7001);
    list.push(passes(
        "to another port",
        frame(client(v6, 11), elsewhere, &wrap(vip, &inner)),
        None,
    ));
    list
}

fn load() -> Option<XdpMirror> {
    let skip = |e: XdpError| {
        eprintln!("skipped: the mirror's XDP datapath cannot be loaded here: {e}");
        None
    };
    if let Err(e) = check_this_process() {
        return skip(e);
    }
    match XdpMirror::load() {
        Ok(xdp) => Some(xdp),
        Err(e @ XdpError::NotBuilt) => skip(e),
        Err(e) => panic!("the mirror's XDP program does not load: {e}"),
    }
}

/// Runs the fixtures of both families under `settings`; returns the disagreements.
fn run(xdp: &mut XdpMirror, settings: &MirrorSettings, wan_passes: &[&str]) -> Vec<String> {
    xdp.publish(&settings.rules).expect("publish");
    let before = xdp.counters().expect("counters");
    let mut userspace = Mirror::new(Arc::new(settings.rules.clone()), settings.listen.clone(), 5);
    let mut failures = Vec::new();
    let mut expected_received = (0u64, 0u64);
    let mut expected_rejects = [0u64; Reject::COUNT];
    let mut expected_passes = [0u64; PASS_NAMES.len()];
    let names: Vec<String> = settings
        .rules
        .peers
        .peers()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let mut expected_forwarded = vec![(0u64, 0u64); names.len()];
    for v6 in [false, true] {
        for mut fixture in fixtures(v6) {
            if wan_passes.iter().any(|w| fixture.name.ends_with(w)) {
                fixture.handling = Handling::PassesUp(Some("wan"));
            }
            let mut out = vec![0u8; 4096];
            let result = xdp.test_run(&fixture.frame, &mut out).expect("test run");
            out.truncate(result.len);
            let mut fail = |what: String| failures.push(format!("{}: {what}", fixture.name));
            let parsed = parse(&fixture.frame).expect("a fixture frame parses");
            match fixture.handling {
                Handling::PassesUp(reason) => {
                    if result.action != action::PASS || out != fixture.frame {
                        fail(format!(
                            "expected an unchanged XDP_PASS, got {}",
                            result.action
                        ));
                    }
                    if let Some(reason) = reason {
                        let i = PASS_NAMES
                            .iter()
                            .position(|n| *n == reason)
                            .expect("reason");
                        expected_passes[i] += 1;
                    }
                    continue;
                }
                Handling::Decides => {}
            }
            expected_received.0 += 1;
            expected_received.1 += parsed.payload.len() as u64;
            let decision =
                userspace.on_datagram(Instant(0), now_secs(), parsed.from, &parsed.payload);
            let mut released = Vec::new();
            userspace.release_due(Instant(10_000_000), &mut released);
            match decision {
                Err(reason) => {
                    expected_rejects[reason.index()] += 1;
                    if result.action != action::DROP {
                        fail(format!(
                            "userspace refuses ({reason:?}), XDP action {}",
                            result.action
                        ));
                    }
                }
                Ok(Fate::Scheduled { .. }) => {
                    let Some(sent) = released.pop() else {
                        fail("userspace scheduled nothing".into());
                        continue;
                    };
                    // The most specific peer first (one-client is within clients' prefix).
                    let peer = ["one-client", "vip", "laptop", "clients"]
                        .iter()
                        .find(|n| sent_by(n, &parsed.from))
                        .and_then(|n| names.iter().position(|m| m == n))
                        .unwrap_or(0);
                    expected_forwarded[peer].0 += 1;
                    expected_forwarded[peer].1 += sent.datagram.len() as u64;
                    if result.action != action::TX {
                        fail(format!(
                            "userspace forwards to {}, XDP action {}",
                            sent.destination, result.action
                        ));
                        continue;
                    }
                    match parse(&out) {
                        None => fail("XDP output is not an IP/UDP frame".into()),
                        Some(p) => {
                            if (p.from, p.to) != (parsed.to, sent.destination) {
                                fail(format!(
                                    "XDP sends {}→{}, userspace {}→{}",
                                    p.from, p.to, parsed.to, sent.destination
                                ));
                            }
                            if p.payload != sent.datagram {
                                fail("payloads differ".into());
                            }
                            if !p.checksums_ok {
                                fail("XDP output has a wrong checksum".into());
                            }
                            if (p.dst_mac, p.src_mac) != (GATEWAY_MAC, OUR_MAC) {
                                fail("XDP output does not go to the gateway MAC".into());
                            }
                        }
                    }
                }
                Ok(Fate::Lost(cause)) => fail(format!("userspace lost it on the path ({cause:?})")),
            }
        }
    }
    let after = xdp.counters().expect("counters");
    let received = (
        after.received_packets - before.received_packets,
        after.received_bytes - before.received_bytes,
    );
    if received != expected_received {
        failures.push(format!(
            "received {received:?}, expected {expected_received:?}"
        ));
    }
    let rejects: Vec<u64> = (0..Reject::COUNT)
        .map(|i| after.rejects[i] - before.rejects[i])
        .collect();
    if rejects != expected_rejects {
        failures.push(format!(
            "rejects {rejects:?}, expected {expected_rejects:?}"
        ));
    }
    let passes: Vec<u64> = (0..PASS_NAMES.len())
        .map(|i| after.passed[i] - before.passed[i])
        .collect();
    if passes != expected_passes {
        failures.push(format!("passes {passes:?}, expected {expected_passes:?}"));
    }
    let forwarded: Vec<(u64, u64)> = after
        .forwarded
        .iter()
        .zip(before.forwarded.iter().chain(std::iter::repeat(&(0, 0))))
        .map(|(a, b)| (a.0 - b.0, a.1 - b.1))
        .collect();
    if forwarded != expected_forwarded {
        failures.push(format!(
            "forwarded {forwarded:?}, expected {expected_forwarded:?}"
        ));
    }
    eprintln!(
        "{} frames decided in XDP ({} forwarded, {} refused), {} passed up",
        expected_received.0,
        expected_forwarded.iter().map(|f| f.0).sum::<u64>(),
        expected_rejects.iter().sum::<u64>(),
        expected_passes.iter().sum::<u64>()
    );
    failures
}

/// Which peer the fixtures' sender belongs to (the patterns of [`CONFIG`]).
fn sent_by(peer: &str, from: &SocketAddr) -> bool {
    let text = from.ip().to_string();
    match peer {
        "vip" => from.port() == 4433,
        "one-client" => text == "198.18.1.77" || text == "2001:2:1::77",
        "laptop" => text.starts_with("198.18.9.") || text.starts_with("2001:2:9:"),
        "clients" => text.starts_with("198.18.1.") || text.starts_with("2001:2:1:"),
        _ => false,
    }
}

#[test]
fn xdp_and_userspace_agree_on_every_mirror_fixture_and_counter() {
    let Some(mut xdp) = load() else { return };
    let perfect = settings("");
    xdp.set_locals(&perfect.listen).expect("locals");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    let failures = run(&mut xdp, &perfect, &[]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn datagrams_of_an_emulated_direction_go_up_to_userspace() {
    let Some(mut xdp) = load() else { return };
    let emulated = settings("wan:\n  to_client: { delay_ms: 10 }\n");
    xdp.set_locals(&emulated.listen).expect("locals");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    // The vip is server-side: what it sends goes toward clients, through the emulated path.
    let failures = run(
        &mut xdp,
        &emulated,
        &["vip to a client", "the vip asks for direct return"],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
