//! CPU time of the processes a benchmark drives, user + system, in seconds.
//!
//! Two sources, one for each kind of child:
//! - a process that keeps running (a server): `utime + stime` of `/proc/PID/stat`, read before
//!   and after a transfer ([`process_cpu_seconds`]); all its threads are counted;
//! - a process that runs one transfer and exits (a client): `getrusage(RUSAGE_CHILDREN)`, which
//!   grows by a child's whole CPU time when it is reaped ([`reaped_children_cpu_seconds`]); the
//!   difference across one client's life is that client's time, as long as no other child is
//!   reaped meanwhile (the benchmark runs one client at a time, its servers keep running).

/// CPU seconds (user + system, all threads) `pid` has used so far; `None` if it is gone.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    Some(ticks as f64 / clock_ticks_per_second())
}

/// `utime + stime` (fields 14 and 15, clock ticks) of a `/proc/PID/stat` line. The command
/// name (field 2) is in parentheses and may hold spaces and parentheses, so the fields are
/// counted from the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// CPU seconds (user + system) of every child this process has reaped so far, and of their
/// reaped descendants.
pub fn reaped_children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn own_cpu_time_is_readable_and_a_reaped_child_is_counted() {
        assert!(process_cpu_seconds(std::process::id()).is_some());
        let before = reaped_children_cpu_seconds();
        let status = std::process::Command::new("true").status().expect("true");
        assert!(status.success());
        assert!(reaped_children_cpu_seconds() >= before);
    }
}
