//! The `Range` request header (a single `bytes=` range), as browsers and video players send it.

use std::ops::Range;

/// What a `Range` header asks of a body of known size.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: send everything with 200.
    Full,
    /// Send this part with 206.
    Part(Range<u64>),
    /// The range lies outside the body: 416.
    Unsatisfiable,
}

/// Interprets `header` for a body of `size` bytes. Malformed or multi-part ranges are ignored
/// (the whole body is sent), as RFC 9110 allows.
pub fn parse(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(s), Ok(e)) if e >= s => s..e.saturating_add(1).min(size),
        (Ok(_), Ok(_)) => return ByteRange::Full,
        (Ok(s), Err(_)) if end.is_empty() => s..size,
        (Err(_), Ok(n)) if start.is_empty() => {
            if n == 0 {
                return ByteRange::Unsatisfiable;
            }
            size.saturating_sub(n)..size
        }
        _ => return ByteRange::Full,
    };
    if range.start >= size {
        ByteRange::Unsatisfiable
    } else {
        ByteRange::Part(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse(None, 100), ByteRange::Full);
        assert_eq!(parse(Some("bytes=0-0"), 100), ByteRange::Part(0..1));
        assert_eq!(parse(Some("bytes=10-19"), 100), ByteRange::Part(10..20));
        assert_eq!(parse(Some("bytes=90-"), 100), ByteRange::Part(90..100));
        assert_eq!(parse(Some("bytes=-10"), 100), ByteRange::Part(90..100));
        assert_eq!(parse(Some("bytes=-500"), 100), ByteRange::Part(0..100));
        assert_eq!(parse(Some("bytes=50-5000"), 100), ByteRange::Part(50..100));
        assert_eq!(parse(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-1"), 100), ByteRange::Full);
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), ByteRange::Full);
        assert_eq!(parse(Some("items=0-1"), 100), ByteRange::Full);
        assert_eq!(parse(Some("bytes=x-y"), 100), ByteRange::Full);
    }
}
