//! Reading the `#define TRK_<name> <value>` lines of a C header: how every XDP ABI test compares
//! a header with the Rust constants of the same names.

/// The `#define TRK_<name> <value>` lines of `header`, as (name without the prefix, value);
/// decimal or `0x` hexadecimal values, an `ULL` suffix allowed.
pub fn parse_defines(header: &str) -> Vec<(String, u64)> {
    header
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("#define TRK_")?;
            let mut words = rest.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.trim_end_matches("ULL");
            let value = match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => value.parse().ok()?,
            };
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Every disagreement between `header`'s `#define TRK_*` and `rust` (name, value): a define
/// missing on either side or with another value. Empty when they agree.
pub fn disagreements(header: &str, rust: &[(&str, u64)]) -> Vec<String> {
    let defines = parse_defines(header);
    let mut problems = Vec::new();
    for (name, value) in &defines {
        match rust.iter().find(|(n, _)| n == name) {
            Some((_, v)) if v == value => {}
            Some((_, v)) => problems.push(format!("TRK_{name} is {value:#x} in C, {v:#x} in Rust")),
            None => problems.push(format!("TRK_{name} has no Rust constant")),
        }
    }
    for (name, _) in rust {
        if !defines.iter().any(|(n, _)| n == name) {
            problems.push(format!("TRK_{name} is missing from the header"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_are_read_in_decimal_and_hexadecimal() {
        let header = "#define TRK_A 12\n  #define TRK_B 0xBF58ULL /* x */\n#define OTHER 3\n";
        assert_eq!(
            parse_defines(header),
            [("A".to_owned(), 12), ("B".to_owned(), 0xBF58)]
        );
        assert!(disagreements(header, &[("A", 12), ("B", 0xBF58)]).is_empty());
        assert_eq!(disagreements(header, &[("A", 13)]).len(), 2);
    }
}
