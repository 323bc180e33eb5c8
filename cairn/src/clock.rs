//! Wall-clock time as the node and the command line read, write and show it:
//! milliseconds since the Unix epoch, shown and parsed as RFC 3339.
//!
//! The chaincode never reads a clock; transactions carry the time their
//! author stamped, and the node stamps access events with [`now_ms`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `ms` as an RFC 3339 time with milliseconds, in UTC.
pub(crate) fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// An RFC 3339 time (`2026-01-31T12:00:00Z`, seconds optional) as milliseconds.
pub(crate) fn parse_rfc3339(text: &str) -> Result<u64, humantime::TimestampError> {
    let time = humantime::parse_rfc3339_weak(text)?;
    Ok(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_times_parse_back() {
        let ms = 1_767_225_600_123;
        assert_eq!(rfc3339(ms), "2026-01-01T00:00:00.123Z");
        assert_eq!(parse_rfc3339(&rfc3339(ms)).unwrap(), ms);
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
