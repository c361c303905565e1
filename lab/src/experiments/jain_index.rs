//! Jain's fairness index of a set of throughputs: `(Σx)² / (n · Σx²)`. It is 1 when every flow
//! gets the same, `1/n` when one flow gets everything, and in `(0, 1]` whenever some flow got
//! anything (R. Jain, D. Chiu, W. Hawe, "A quantitative measure of fairness and discrimination
//! for resource allocation in shared computer systems", DEC-TR-301, 1984).

/// The index of `throughputs`; `None` when there are none or all are zero (or any is negative
/// or not finite).
pub fn jain_index(throughputs: &[f64]) -> Option<f64> {
    if throughputs.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return None;
    }
    let sum: f64 = throughputs.iter().sum();
    let squares: f64 = throughputs.iter().map(|x| x * x).sum();
    (squares > 0.0).then(|| sum * sum / (throughputs.len() as f64 * squares))
}

#[cfg(test)]
mod tests {
    use super::jain_index;

    #[test]
    fn equal_shares_are_perfectly_fair() {
        let index = jain_index(&[3.0, 3.0, 3.0, 3.0]).expect("index");
        assert!((index - 1.0).abs() < 1e-12, "{index}");
    }

    #[test]
    fn one_flow_taking_everything_scores_one_over_n() {
        let index = jain_index(&[10.0, 0.0, 0.0, 0.0, 0.0]).expect("index");
        assert!((index - 0.2).abs() < 1e-12, "{index}");
    }

    #[test]
    fn in_between_and_scale_free() {
        let a = jain_index(&[1.0, 2.0]).expect("index");
        assert!((a - 0.9).abs() < 1e-12, "{a}");
        let b = jain_index(&[10.0, 20.0]).expect("index");
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn nothing_measured_has_no_index() {
        assert_eq!(jain_index(&[]), None);
        assert_eq!(jain_index(&[0.0, 0.0]), None);
        assert_eq!(jain_index(&[1.0, f64::NAN]), None);
        assert_eq!(jain_index(&[1.0, -1.0]), None);
    }
}
