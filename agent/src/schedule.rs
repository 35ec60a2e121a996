//! When a segment is swept next: every `interval`, plus up to `jitter` at
//! random so agents do not sweep in step, never inside the segment's quiet
//! hours (a sweep that would start in them waits for their end).
//!
//! Quiet hours are a daily UTC window such as `22:00-06:00` (crossing
//! midnight is allowed); UTC because a service's local time zone is a
//! host setting Census should not have to guess.

use std::time::Duration;

use time::OffsetDateTime;

/// A daily window, minutes since midnight UTC, `start..end` (wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, minutes since 00:00 UTC.
    pub start: u16,
    /// End, minutes since 00:00 UTC.
    pub end: u16,
}

fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && m.to_string().len() <= 2).then_some(h * 60 + m)
}

impl QuietHours {
    /// Parse `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<QuietHours, String> {
        let bad = || format!("`{s}` is not a window like 22:00-06:00 (UTC)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!("`{s}` is empty: start and end are the same"));
        }
        Ok(QuietHours { start, end })
    }

    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        let m = u16::from(t.hour()) * 60 + u16::from(t.minute());
        if self.start < self.end { (self.start..self.end).contains(&m) } else { m >= self.start || m < self.end }
    }

    /// The first moment at or after `t` outside the window.
    pub fn next_allowed(&self, t: OffsetDateTime) -> OffsetDateTime {
        if !self.contains(t) {
            return t;
        }
        let m = i64::from(t.hour()) * 60 + i64::from(t.minute());
        let mut wait = i64::from(self.end) - m;
        if wait <= 0 {
            wait += 24 * 60;
        }
        let start_of_minute = t.replace_second(0).and_then(|t| t.replace_nanosecond(0)).unwrap_or(t);
        start_of_minute + time::Duration::minutes(wait)
    }
}

/// When to sweep next after a sweep started at `last` (or now, on start).
pub fn next_run(
    now: OffsetDateTime,
    last: Option<OffsetDateTime>,
    interval: Duration,
    jitter: Duration,
    quiet: Option<QuietHours>,
    random: u64,
) -> OffsetDateTime {
    let jitter_ms = if jitter.is_zero() { 0 } else { random % (jitter.as_millis() as u64 + 1) };
    let base = match last {
        Some(l) => (l + interval).max(now),
        None => now,
    };
    let t = base + Duration::from_millis(jitter_ms);
    match quiet {
        Some(q) => q.next_allowed(t),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn quiet_hours_parse_and_wrap_midnight() {
        let q = QuietHours::parse("22:00-06:00").unwrap();
        assert!(q.contains(datetime!(2026-11-28 23:30 UTC)));
        assert!(q.contains(datetime!(2026-11-28 05:59 UTC)));
        assert!(!q.contains(datetime!(2026-11-28 06:00 UTC)));
        assert_eq!(q.next_allowed(datetime!(2026-11-28 23:30:15 UTC)), datetime!(2026-11-29 06:00 UTC));
        assert_eq!(q.next_allowed(datetime!(2026-11-28 12:00 UTC)), datetime!(2026-11-28 12:00 UTC));
        let day = QuietHours::parse("09:00-17:30").unwrap();
        assert_eq!(day.next_allowed(datetime!(2026-11-28 10:00 UTC)), datetime!(2026-11-28 17:30 UTC));
        for bad in ["", "22-06", "25:00-06:00", "10:00-10:00", "10:00-10:600"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_run_is_interval_plus_bounded_jitter_outside_quiet_hours() {
        let now = datetime!(2026-11-28 12:00 UTC);
        let hour = Duration::from_secs(3600);
        assert_eq!(next_run(now, None, hour, Duration::ZERO, None, 7), now);
        let last = datetime!(2026-11-28 11:30 UTC);
        let t = next_run(now, Some(last), hour, Duration::from_secs(60), None, 30_000);
        assert_eq!(t, datetime!(2026-11-28 12:30:30 UTC));
        // An overdue sweep runs now, not in the past.
        assert_eq!(next_run(now, Some(datetime!(2026-11-28 09:00 UTC)), hour, Duration::ZERO, None, 0), now);
        let q = QuietHours::parse("12:15-13:00").unwrap();
        assert_eq!(next_run(now, Some(last), hour, Duration::ZERO, Some(q), 0), datetime!(2026-11-28 13:00 UTC));
    }
}
