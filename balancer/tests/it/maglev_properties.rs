//! Properties of the Maglev table the balancer builds: balance, minimal disruption when a
//! backend fails (the Maglev paper's resilience measurement), and identical tables from the same
//! configuration. Each test prints its figures (`cargo test -p trickles-balancer --test
//! maglev_properties -- --nocapture`).

use trickles_balancer::core::constants::DEFAULT_TABLE_SIZE;
use trickles_balancer::core::{MaglevBackend, MaglevTable};

fn pool(n: usize) -> Vec<MaglevBackend> {
    (0..n)
        .map(|i| MaglevBackend {
            name: format!("replica-{i:04}"),
            weight: 1,
        })
        .collect()
}

/// Share of slots that changed, and share of the slots of *surviving* backends that changed
/// (the disruption beyond the minimum).
fn disruption(before: &MaglevTable, after: &MaglevTable, failed: &str) -> (f64, f64) {
    let mut moved = 0usize;
    let mut moved_surviving = 0usize;
    for (a, b) in before.entries().iter().zip(after.entries()) {
        let (was, now) = (&before.names()[*a as usize], &after.names()[*b as usize]);
        if was != now {
            moved += 1;
            if was != failed {
                moved_surviving += 1;
            }
        }
    }
    let size = before.size() as f64;
    (moved as f64 / size, moved_surviving as f64 / size)
}

#[test]
fn hundred_backends_get_equal_shares_within_one_slot() {
    let table = MaglevTable::build(&pool(100), DEFAULT_TABLE_SIZE).expect("build");
    let counts = table.slot_counts();
    let (min, max) = (
        *counts.iter().min().expect("min"),
        *counts.iter().max().expect("max"),
    );
    let mean = DEFAULT_TABLE_SIZE as f64 / 100.0;
    println!(
        "100 backends, M = {DEFAULT_TABLE_SIZE}: slots per backend min {min} max {max} (mean {mean:.2}, spread {:.3} %)",
        (max - min) as f64 / mean * 100.0
    );
    assert!(max - min <= 1, "min {min} max {max}");
}

#[test]
fn one_failure_in_a_hundred_moves_little_more_than_its_own_slots() {
    let backends = pool(100);
    let before = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).expect("build");
    let mut worst: f64 = 0.0;
    let mut total = 0.0;
    let mut total_extra = 0.0;
    // Every fourth backend in turn (25 cases) keeps the debug-build test short.
    let cases: Vec<usize> = (0..100).step_by(4).collect();
    for &failed in &cases {
        let mut rest = backends.clone();
        let gone = rest.remove(failed);
        let after = MaglevTable::build(&rest, DEFAULT_TABLE_SIZE).expect("build");
        let (moved, extra) = disruption(&before, &after, &gone.name);
        // Every slot of the failed backend must move.
        assert!(moved >= 0.0099, "moved {moved}");
        worst = worst.max(moved);
        total += moved;
        total_extra += extra;
    }
    let n = cases.len() as f64;
    let (mean, mean_extra) = (total / n, total_extra / n);
    println!(
        "1 of 100 backends fails, M = {DEFAULT_TABLE_SIZE}: slots moved mean {:.3} % (minimum possible 1 %), \
         of which surviving backends' {:.3} %; worst of {} cases {:.3} %",
        mean * 100.0,
        mean_extra * 100.0,
        cases.len(),
        worst * 100.0
    );
    // Maglev trades a little disruption for balance: well under twice the minimum.
    assert!(mean < 0.02, "mean {mean}");
}

#[test]
fn paper_setup_thousand_backends_one_percent_fail() {
    // The Maglev paper's resilience setup: 1000 backends, k % of them fail, table sizes 65537
    // and 655373. One case, k = 1 %.
    let backends = pool(1000);
    for size in [65_537u32, 655_373] {
        let before = MaglevTable::build(&backends, size).expect("build");
        let survivors: Vec<MaglevBackend> = backends
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 100 != 0)
            .map(|(_, b)| b.clone())
            .collect();
        let after = MaglevTable::build(&survivors, size).expect("build");
        let moved = before.moved_share(&after);
        println!(
            "10 of 1000 backends fail, M = {size}: slots moved {:.3} % (minimum 1 %)",
            moved * 100.0
        );
        assert!((0.0099..0.05).contains(&moved), "{moved}");
    }
}

#[test]
fn the_same_configuration_gives_the_same_table_on_every_balancer() {
    let a = MaglevTable::build(&pool(50), 5_003).expect("build");
    let mut shuffled = pool(50);
    shuffled.rotate_left(17);
    let b = MaglevTable::build(&shuffled, 5_003).expect("build");
    assert_eq!(a, b);
    assert_eq!(a.moved_share(&b), 0.0);
}

#[test]
fn a_returning_backend_gets_its_old_slots_back() {
    let backends = pool(10);
    let full = MaglevTable::build(&backends, 1_009).expect("build");
    let without = MaglevTable::build(&backends[1..], 1_009).expect("build");
    let back = MaglevTable::build(&backends, 1_009).expect("build");
    assert!(full.moved_share(&without) > 0.0);
    assert_eq!(full, back);
}
