//! The `Range` request header of the HTTP/TCP baseline (RFC 9110 §14), reduced to what a file
//! server needs: a single byte range, `bytes=N-`, `bytes=N-M` or `bytes=-N` (the last N bytes).
//!
//! The failover experiment resumes an interrupted TCP transfer with `bytes=N-`. Anything else
//! (several ranges, other units, a malformed header) is ignored, as the RFC allows, and the whole
//! file is sent with `200 OK`.

/// What to send for a request on a file of known length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file, `200 OK`.
    Whole,
    /// Bytes `start..=last`, `206 Partial Content`.
    Partial {
        /// First byte sent.
        start: u64,
        /// Last byte sent (inclusive, as in `Content-Range`).
        last: u64,
    },
    /// The range lies past the end of the file, `416 Range Not Satisfiable`.
    Unsatisfiable,
}

/// Decide what to send for the `Range` header value `header` (if any) on a file `length` bytes
/// long.
pub fn answer(header: Option<&str>, length: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if length == 0 => RangeAnswer::Unsatisfiable,
            Some(suffix) => RangeAnswer::Partial {
                start: length.saturating_sub(suffix),
                last: length - 1,
            },
            None => RangeAnswer::Whole,
        },
        // bytes=N- : from N to the end.
        (false, true) => match number(first) {
            Some(start) if start >= length => RangeAnswer::Unsatisfiable,
            Some(start) => RangeAnswer::Partial {
                start,
                last: length - 1,
            },
            None => RangeAnswer::Whole,
        },
        // bytes=N-M
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= length {
                    RangeAnswer::Unsatisfiable
                } else {
                    RangeAnswer::Partial {
                        start,
                        last: end.min(length - 1),
                    }
                }
            }
            _ => RangeAnswer::Whole,
        },
        (true, true) => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ended_range_runs_to_the_end() {
        assert_eq!(
            answer(Some("bytes=10-"), 100),
            RangeAnswer::Partial {
                start: 10,
                last: 99
            }
        );
    }

    #[test]
    fn bounded_range_is_clamped_to_the_file() {
        assert_eq!(
            answer(Some("bytes=90-200"), 100),
            RangeAnswer::Partial {
                start: 90,
                last: 99
            }
        );
    }

    #[test]
    fn suffix_range_takes_the_last_bytes() {
        assert_eq!(
            answer(Some("bytes=-30"), 100),
            RangeAnswer::Partial {
                start: 70,
                last: 99
            }
        );
        assert_eq!(
            answer(Some("bytes=-300"), 100),
            RangeAnswer::Partial { start: 0, last: 99 }
        );
    }

    #[test]
    fn range_past_the_end_is_unsatisfiable() {
        assert_eq!(answer(Some("bytes=100-"), 100), RangeAnswer::Unsatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), RangeAnswer::Unsatisfiable);
    }

    #[test]
    fn malformed_or_multiple_ranges_send_the_whole_file() {
        for header in [
            "items=1-",
            "bytes=a-",
            "bytes=5-2",
            "bytes=1-2,4-5",
            "bytes=-",
            "bytes=+1-",
        ] {
            assert_eq!(answer(Some(header), 100), RangeAnswer::Whole, "{header}");
        }
        assert_eq!(answer(None, 100), RangeAnswer::Whole);
    }
}
