//! The XDP datapath against the userspace one, Katran-style: every fixture of
//! [`support::xdp_fixtures`] goes through [`trickles_balancer::core::decide`] and through the
//! compiled XDP program (`BPF_PROG_TEST_RUN`); verdicts, output bytes and counters must agree.
//!
//! With a pool key the program does not decide at all: every datagram for a VIP goes up
//! unchanged (pass reason `pool_key`), since the hop tags are written and checked in userspace
//! (`docs/XDP.md`); `with_a_pool_key_every_vip_datagram_goes_up_unchanged` holds it to that.
//!
//! These tests load BPF programs: they need root (`CAP_BPF`, `CAP_NET_ADMIN`) and a binary
//! built with clang. Without either they print why and pass without checking anything.

use std::net::SocketAddr;

use trickles_balancer::core::{DropReason, ForwardingMode, ForwardingTable};
use trickles_balancer::metrics::{BackendCounts, BatchCounts};
use trickles_balancer::xdp::abi::PASS_NAMES;
use trickles_balancer::xdp::privileges::check_this_process;
use trickles_balancer::xdp::{action, XdpBalancer, XdpError};

use crate::support::xdp_fixtures::{
    fixtures, parse, request, table, userspace, Family, Handling, Outcome, GATEWAY_MAC, OUR_MAC,
};

/// The loaded program, or `None` (with the reason printed) where BPF cannot run.
fn load() -> Option<XdpBalancer> {
    let skip = |e: XdpError| {
        eprintln!("skipped: the XDP datapath cannot be loaded here: {e}");
        None
    };
    if let Err(e) = check_this_process() {
        return skip(e);
    }
    match XdpBalancer::load() {
        Ok(xdp) => Some(xdp),
        Err(e @ XdpError::NotBuilt) => skip(e),
        Err(e) => panic!("the XDP program does not load: {e}"),
    }
}

fn vips() -> [SocketAddr; 2] {
    [Family::V4.addresses().vip, Family::V6.addresses().vip]
}

/// Runs every fixture of `family` under `table`; returns the disagreements and adds what the
/// counters should show to `expected` / `passed`.
fn run_fixtures(
    xdp: &XdpBalancer,
    family: Family,
    table: &ForwardingTable,
    expected: &mut BatchCounts,
    passed: &mut [u64],
) -> Vec<String> {
    let vip = family.addresses().vip;
    let mut failures = Vec::new();
    for fixture in fixtures(family) {
        let mut out = vec![0u8; 4096];
        let run = xdp
            .test_run(&fixture.frame, &mut out, 1)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        out.truncate(run.len);
        let user = userspace(&fixture.frame, vip, table);
        let mut fail = |what: String| failures.push(format!("{}: {what}", fixture.name));
        match (fixture.handling, &user) {
            (Handling::PassesUp(reason), _) => {
                if run.action != action::PASS || out != fixture.frame {
                    fail(format!(
                        "expected an unchanged XDP_PASS, got action {}",
                        run.action
                    ));
                }
                if let Some(reason) = reason {
                    let i = PASS_NAMES
                        .iter()
                        .position(|n| *n == reason)
                        .expect("reason");
                    passed[i] += 1;
                }
            }
            (Handling::Decides, Outcome::Drop(reason)) => {
                if run.action != action::DROP {
                    fail(format!(
                        "userspace drops ({reason:?}), XDP action {}",
                        run.action
                    ));
                }
                let i = DropReason::ALL
                    .iter()
                    .position(|r| r == reason)
                    .expect("reason");
                expected.drops[i] += 1;
            }
            (
                Handling::Decides,
                Outcome::Send {
                    from,
                    to,
                    payload,
                    backend,
                    to_backend,
                    counted_bytes,
                },
            ) => {
                let counts: &mut BackendCounts = &mut expected.backends[*backend as usize];
                if *to_backend {
                    counts.to_backend_packets += 1;
                    counts.to_backend_bytes += counted_bytes;
                } else {
                    counts.to_client_packets += 1;
                    counts.to_client_bytes += counted_bytes;
                }
                if run.action != action::TX {
                    fail(format!(
                        "userspace sends to {to}, XDP action {}",
                        run.action
                    ));
                    continue;
                }
                match parse(&out) {
                    None => fail("XDP output is not an IP/UDP frame".into()),
                    Some(p) => {
                        if (p.from, p.to) != (*from, *to) {
                            fail(format!(
                                "XDP sends {}→{}, userspace {from}→{to}",
                                p.from, p.to
                            ));
                        }
                        if p.payload != *payload {
                            fail(format!(
                                "payloads differ: XDP {:02x?}…, userspace {:02x?}…",
                                &p.payload[..p.payload.len().min(32)],
                                &payload[..payload.len().min(32)]
                            ));
                        }
                        if !p.checksums_ok {
                            fail("XDP output has a wrong checksum or length".into());
                        }
                        if (p.dst_mac, p.src_mac) != (GATEWAY_MAC, OUR_MAC) {
                            fail("XDP output does not go to the gateway MAC".into());
                        }
                    }
                }
            }
            (Handling::Decides, Outcome::NotDelivered) => {
                fail("fixture never reaches the userspace datapath: mark it PassesUp".into())
            }
        }
    }
    failures
}

#[test]
fn xdp_and_userspace_agree_on_every_fixture_and_counter() {
    let Some(mut xdp) = load() else { return };
    xdp.set_vips(&vips()).expect("vips");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    let mut failures = Vec::new();
    let mut runs = 0;
    let tables = [
        (ForwardingMode::Relay, [true; 3]),
        (ForwardingMode::DirectReturn, [true; 3]),
        (ForwardingMode::Relay, [true, false, true]),
        (ForwardingMode::Relay, [false; 3]),
    ];
    for family in [Family::V4, Family::V6] {
        for (mode, up) in tables {
            let table = table(family, mode, up);
            // Every publish flips the generation: the program is never detached.
            xdp.publish(&table).expect("publish");
            let before = xdp.counters(3).expect("counters");
            let mut expected = BatchCounts::new(3);
            let mut passed = [0u64; PASS_NAMES.len()];
            failures.extend(
                run_fixtures(&xdp, family, &table, &mut expected, &mut passed)
                    .into_iter()
                    .map(|f| format!("[{mode:?}, up {up:?}] {f}")),
            );
            let (counted, counted_passes) = xdp.counters(3).expect("counters").since(&before);
            if counted != expected {
                failures.push(format!(
                    "[{family:?} {mode:?}, up {up:?}] counters: XDP {counted:?}, expected {expected:?}"
                ));
            }
            if counted_passes != passed {
                failures.push(format!(
                    "[{family:?} {mode:?}, up {up:?}] passes: XDP {counted_passes:?}, expected {passed:?}"
                ));
            }
            runs += fixtures(family).len();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} fixture runs disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{runs} fixture runs agree");
}

#[test]
fn with_a_pool_key_every_vip_datagram_goes_up_unchanged() {
    let Some(mut xdp) = load() else { return };
    xdp.set_vips(&vips()).expect("vips");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    let key = trickles_netfn::PoolKey(
        trickles_netfn::AuthKey::from_hex(1, "000102030405060708090a0b0c0d0e0f").expect("key"),
    );
    let pool_key = PASS_NAMES
        .iter()
        .position(|n| *n == "pool_key")
        .expect("name");
    let mut failures = Vec::new();
    for family in [Family::V4, Family::V6] {
        for mode in [ForwardingMode::Relay, ForwardingMode::DirectReturn] {
            let table = table(family, mode, [true; 3]).with_pool_key(Some(key.clone()));
            xdp.publish(&table).expect("publish");
            let before = xdp.counters(3).expect("counters");
            let mut decided_without_key = 0u64;
            for fixture in fixtures(family) {
                let mut out = vec![0u8; 4096];
                let run = xdp.test_run(&fixture.frame, &mut out, 1).expect("run");
                out.truncate(run.len);
                if run.action != action::PASS || out != fixture.frame {
                    failures.push(format!(
                        "[{family:?} {mode:?}] {}: action {}, not an unchanged XDP_PASS",
                        fixture.name, run.action
                    ));
                }
                if fixture.handling == Handling::Decides {
                    decided_without_key += 1;
                }
            }
            let (counted, passes) = xdp.counters(3).expect("counters").since(&before);
            if counted != BatchCounts::new(3) {
                failures.push(format!(
                    "[{family:?} {mode:?}] XDP forwarded or dropped: {counted:?}"
                ));
            }
            // Every frame the program would decide without a key is handed up for it.
            if passes[pool_key] < decided_without_key {
                failures.push(format!(
                    "[{family:?} {mode:?}] {} pool_key passes, {decided_without_key} expected",
                    passes[pool_key]
                ));
            }
        }
    }
    // The key removed again: the program decides as before.
    xdp.publish(&table(Family::V4, ForwardingMode::Relay, [true; 3]))
        .expect("publish");
    let before = xdp.counters(3).expect("counters");
    for fixture in fixtures(Family::V4) {
        let mut out = vec![0u8; 4096];
        xdp.test_run(&fixture.frame, &mut out, 1).expect("run");
    }
    let (_, passes) = xdp.counters(3).expect("counters").since(&before);
    assert_eq!(passes[pool_key], 0, "pool_key passes without a key");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn without_a_route_a_frame_goes_up_unchanged() {
    let Some(mut xdp) = load() else { return };
    xdp.set_vips(&vips()).expect("vips");
    for family in [Family::V4, Family::V6] {
        xdp.publish(&table(family, ForwardingMode::Relay, [true; 3]))
            .expect("publish");
        let a = family.addresses();
        let frame = crate::support::xdp_fixtures::frame(a.client, a.vip, &request(5, 100));
        let mut out = vec![0u8; 2048];
        let run = xdp.test_run(&frame, &mut out, 1).expect("run");
        assert_eq!(run.action, action::PASS, "{family:?}");
        assert_eq!(&out[..run.len], &frame[..], "{family:?}");
    }
    let passes = xdp.counters(3).expect("counters").passed;
    let no_route = PASS_NAMES
        .iter()
        .position(|n| *n == "no_route")
        .expect("name");
    assert_eq!(passes[no_route], 2);
}

#[test]
fn a_published_table_is_the_userspace_table_slot_for_slot() {
    let Some(mut xdp) = load() else { return };
    let a = Family::V4.addresses();
    let build = |up: [bool; 3]| {
        let backends = (0..3)
            .map(|i| trickles_balancer::core::TableBackend {
                name: format!("r{i}"),
                address: a.backends[i],
                weight: 1,
                up: up[i],
                drained: false,
            })
            .collect();
        ForwardingTable::build(
            backends,
            trickles_balancer::core::Policy::Maglev,
            ForwardingMode::Relay,
            65_537,
        )
        .expect("table")
    };
    for up in [[true; 3], [true, false, true], [true; 3]] {
        let table = build(up);
        let started = std::time::Instant::now();
        xdp.publish(&table).expect("publish");
        let took = started.elapsed();
        let differing = table
            .maglev_slots()
            .enumerate()
            .filter(|&(s, backend)| xdp.slot(s) != backend)
            .count();
        assert_eq!(differing, 0, "up {up:?}");
        eprintln!("published 65,537 slots (up {up:?}) in {took:?}");
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    }
}
