//! Reading a `/metrics` answer (the Prometheus text format) just enough to compare it with the
//! dashboards, the rules and the documentation: which metric families it declares, and of which
//! type.

use std::collections::BTreeMap;

/// Family name → type (`counter`, `gauge`, `histogram`, `summary`, `untyped`), from the
/// `# TYPE` lines.
pub fn metric_families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// The series names a family of `kind` answers to in PromQL: a histogram `h` is queried as
/// `h_bucket`, `h_sum` and `h_count`.
pub fn series_names(family: &str, kind: &str) -> Vec<String> {
    match kind {
        "histogram" => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{family}{suffix}"))
            .collect(),
        "summary" => vec![
            family.to_owned(),
            format!("{family}_sum"),
            format!("{family}_count"),
        ],
        _ => vec![family.to_owned()],
    }
}

/// Every metric name a PromQL expression mentions: identifiers followed by `{`, `[`, `)`,
/// an operator or the end, that are not PromQL functions, keywords or label names.
pub fn referenced_metrics(expr: &str) -> Vec<String> {
    const WORDS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "changes",
        "resets",
        "deriv",
        "predict_linear",
        "histogram_quantile",
        "label_replace",
        "label_join",
        "time",
        "vector",
        "scalar",
        "abs",
        "absent",
        "absent_over_time",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "exp",
        "ln",
        "log2",
        "log10",
        "sqrt",
        "timestamp",
        "sort",
        "sort_desc",
        "max_over_time",
        "min_over_time",
        "avg_over_time",
        "sum_over_time",
        "count_over_time",
        "last_over_time",
        "quantile_over_time",
        "present_over_time",
        "stddev_over_time",
        "inf",
        "nan",
        "le",
    ];
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    let mut in_braces = 0usize;
    let mut in_string: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(quote) = in_string {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == quote {
                in_string = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' | b'`' => in_string = Some(c),
            b'{' => in_braces += 1,
            b'}' => in_braces = in_braces.saturating_sub(1),
            b'[' => {
                // Skip durations: `[5m]`, `[1m:10s]`.
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
            }
            _ if (c.is_ascii_alphabetic() || c == b'_' || c == b':') && in_braces == 0 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().chars().next();
                let preceded_by_digit = start > 0 && bytes[start - 1].is_ascii_digit();
                let is_call = next == Some('(');
                let in_grouping = {
                    let before = expr[..start].trim_end();
                    before.ends_with('(') && {
                        let head = before[..before.len() - 1].trim_end();
                        [
                            "by",
                            "without",
                            "on",
                            "ignoring",
                            "group_left",
                            "group_right",
                        ]
                        .iter()
                        .any(|k| head.ends_with(k))
                    } || before.ends_with(',') && grouping_open(&expr[..start])
                };
                if !is_call
                    && !preceded_by_digit
                    && !in_grouping
                    && !WORDS.contains(&word.to_ascii_lowercase().as_str())
                    && !names.iter().any(|n| n == word)
                {
                    names.push(word.to_owned());
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// Whether the text ends inside a `by (` / `on (` ... list that is still open.
fn grouping_open(text: &str) -> bool {
    let Some(open) = text.rfind('(') else {
        return false;
    };
    if text[open..].contains(')') {
        return false;
    }
    let head = text[..open].trim_end();
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ]
    .iter()
    .any(|k| head.ends_with(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_types_come_from_type_lines() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 3\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\n";
        let families = metric_families(text);
        assert_eq!(families.get("a_total").map(String::as_str), Some("counter"));
        assert_eq!(families.get("h").map(String::as_str), Some("histogram"));
        assert_eq!(series_names("h", "histogram")[0], "h_bucket");
    }

    #[test]
    fn metric_names_are_found_among_functions_labels_and_durations() {
        let expr = "histogram_quantile(0.99, sum by (backend, le) (rate(x_bucket{job=~\"$job\", a=\"b c\"}[5m]))) / on(job) group_left y:z:rate1m > 4 * (w offset 5m) and time() - t > 10";
        assert_eq!(
            referenced_metrics(expr),
            ["x_bucket", "y:z:rate1m", "w", "t"]
        );
        assert_eq!(
            referenced_metrics("sum by (job, reason) (rate(m_total[1h]))"),
            ["m_total"]
        );
    }
}
