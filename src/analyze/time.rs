//! Times and durations as users type and read them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a point in time: RFC 3339 (`2026-05-01T12:00:00Z`, `...+02:00`,
/// fractions allowed) or an age before `now_ns` (`1h`, `15m`, `2days`).
pub fn parse_instant(s: &str, now_ns: u64) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(age) = humantime::parse_duration(s) {
        return Ok(now_ns.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX)));
    }
    // humantime reads UTC only; a numeric offset is applied here.
    let (base, offset_s) = match s.len().checked_sub(6).map(|i| s.split_at(i)) {
        Some((base, off))
            if base.len() >= 19
                && matches!(off.as_bytes()[0], b'+' | b'-')
                && off.as_bytes()[3] == b':' =>
        {
            let hours: i64 = off[1..3].parse().map_err(|_| bad_instant(s))?;
            let minutes: i64 = off[4..6].parse().map_err(|_| bad_instant(s))?;
            let sign = if off.starts_with('-') { -1 } else { 1 };
            (base, sign * (hours * 3600 + minutes * 60))
        }
        _ => (s.trim_end_matches('Z'), 0),
    };
    let t = humantime::parse_rfc3339_weak(base).map_err(|_| bad_instant(s))?;
    let ns = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad_instant(s))?
        .as_nanos() as i128
        - i128::from(offset_s) * 1_000_000_000;
    u64::try_from(ns).map_err(|_| bad_instant(s))
}

fn bad_instant(s: &str) -> String {
    format!("{s:?} is neither a duration ago (1h, 30m) nor an RFC 3339 time (2026-05-01T12:00:00Z)")
}

/// Parses a duration such as `10ms`, `2s` or `1500us` (whole numbers with a
/// unit, as humantime reads them), in nanoseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s.trim())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .map_err(|e| format!("{s:?} is not a duration like 10ms or 2s: {e}"))
}

/// Now, Unix ns.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A duration for people: `850ns`, `12.3µs`, `45.21ms`, `1.234s`.
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

/// A Unix ns time as RFC 3339 UTC with milliseconds.
pub fn fmt_time(ns: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ns);
    humantime::format_rfc3339_millis(t).to_string()
}
