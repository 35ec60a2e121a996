//! How a sweep probes and how large it may be, validated once for both
//! ways of asking: `census-agent scan`'s flags and a `[[segment]]` of the
//! service's configuration. The bounds live here and nowhere else, so the
//! two cannot drift apart (they once were written twice).
//!
//! A [`SweepOptions`] cannot hold an out-of-range value: it is built only
//! by [`SweepOptions::new`], whose error names the field in the caller's
//! words (`--timeout-ms`, `segment[0].probe_timeout`).

use std::num::NonZeroU32;
use std::time::Duration;

use crate::targets::TargetSet;

/// Default ceiling on a segment's size: a /16.
pub const DEFAULT_MAX_TARGET_ADDRESSES: u64 = 65_536;

/// Shortest and longest probe timeout accepted.
pub const PROBE_TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(30));
/// The probe timeout when none is given.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Most retries accepted.
pub const MAX_RETRIES: u8 = 10;
/// Retries when none are given.
pub const DEFAULT_RETRIES: u8 = 2;
/// Shortest and longest limit on one sweep.
pub const MAX_DURATION_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(86_400));
/// The limit on one sweep when none is given.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3600);

/// Which option was out of range, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionError {
    /// The probe timeout is outside [`PROBE_TIMEOUT_RANGE`].
    ProbeTimeout,
    /// More than [`MAX_RETRIES`] retries.
    Retries,
    /// The sweep limit is outside [`MAX_DURATION_RANGE`].
    MaxDuration,
}

impl OptionError {
    /// What is allowed, for a message that names the field in the caller's words.
    pub fn allowed(self) -> &'static str {
        match self {
            OptionError::ProbeTimeout => "from 10 ms to 30 s",
            OptionError::Retries => "from 0 to 10",
            OptionError::MaxDuration => "from 1 s to 24 h",
        }
    }
}

/// How each probe is waited for and retried, and how long a sweep may run.
///
/// The probe timeout comes two ways. Given by the operator (`--timeout-ms`,
/// `probe_timeout`), the last round waits all of it: a host known to be slow
/// is waited for. Left out, it is a ceiling of [`DEFAULT_PROBE_TIMEOUT`] and
/// the rounds wait by the segment's own round trips (see
/// [`super::engine`]), which is what makes a quiet LAN fast to sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOptions {
    probe_timeout: Duration,
    fixed_wait: bool,
    retries: u8,
    max_duration: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            fixed_wait: false,
            retries: DEFAULT_RETRIES,
            max_duration: DEFAULT_MAX_DURATION,
        }
    }
}

impl SweepOptions {
    /// Validated options; `probe_timeout` as the operator gave it (`None`:
    /// waits by the segment's round trips, at most the default).
    ///
    /// # Errors
    /// The first option out of range.
    pub fn new(probe_timeout: Option<Duration>, retries: u8, max_duration: Duration) -> Result<Self, OptionError> {
        let fixed_wait = probe_timeout.is_some();
        let probe_timeout = probe_timeout.unwrap_or(DEFAULT_PROBE_TIMEOUT);
        let within = |v: Duration, (lo, hi): (Duration, Duration)| v >= lo && v <= hi;
        if !within(probe_timeout, PROBE_TIMEOUT_RANGE) {
            return Err(OptionError::ProbeTimeout);
        }
        if retries > MAX_RETRIES {
            return Err(OptionError::Retries);
        }
        if !within(max_duration, MAX_DURATION_RANGE) {
            return Err(OptionError::MaxDuration);
        }
        Ok(SweepOptions { probe_timeout, fixed_wait, retries, max_duration })
    }

    /// The wait for an answer: all of it in the last round when
    /// [`SweepOptions::fixed_wait`], else the ceiling of waits set by the
    /// segment's round trips.
    pub fn probe_timeout(&self) -> Duration {
        self.probe_timeout
    }

    /// The operator gave the timeout: the last round waits all of it.
    pub fn fixed_wait(&self) -> bool {
        self.fixed_wait
    }

    /// Extra rounds for addresses that did not answer.
    pub fn retries(&self) -> u8 {
        self.retries
    }

    /// Hard limit on the whole sweep.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }
}

/// Global sweep limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Packets per second, all techniques together.
    pub rate: NonZeroU32,
    /// Probes awaiting an answer at once.
    pub max_in_flight: NonZeroU32,
    /// Largest segment accepted without `allow_large_targets`.
    pub max_target_addresses: u64,
    /// Accept segments over the ceiling.
    pub allow_large_targets: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate: NonZeroU32::new(5_000).unwrap_or(NonZeroU32::MIN),
            max_in_flight: NonZeroU32::new(1_024).unwrap_or(NonZeroU32::MIN),
            max_target_addresses: DEFAULT_MAX_TARGET_ADDRESSES,
            allow_large_targets: false,
        }
    }
}

/// Refuse a target set larger than the limits allow.
///
/// # Errors
/// The size, the limit, and how to lift it.
pub fn check_target_size(targets: &TargetSet, limits: &Limits) -> Result<(), String> {
    // IPv6 networks wider than a /112 are discovered on-link, not swept: they do not count.
    let size = targets.swept_size();
    if size > u128::from(limits.max_target_addresses) && !limits.allow_large_targets {
        return Err(format!(
            "the targets hold {size} addresses, more than the limit of {} (a /16); \
             narrow them, or set limits.allow_large_targets = true (--allow-large) if you really mean it",
            limits.max_target_addresses
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_inclusive_and_each_error_names_its_option() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        assert!(SweepOptions::new(Some(ms(10)), 0, s(1)).is_ok());
        assert!(SweepOptions::new(Some(s(30)), 10, s(86_400)).is_ok());
        assert_eq!(SweepOptions::new(Some(ms(9)), 2, s(60)), Err(OptionError::ProbeTimeout));
        assert_eq!(SweepOptions::new(Some(s(31)), 2, s(60)), Err(OptionError::ProbeTimeout));
        assert_eq!(SweepOptions::new(None, 11, s(60)), Err(OptionError::Retries));
        assert_eq!(SweepOptions::new(None, 2, ms(999)), Err(OptionError::MaxDuration));
        assert_eq!(SweepOptions::new(None, 2, s(86_401)), Err(OptionError::MaxDuration));
        let d = SweepOptions::default();
        assert_eq!((d.probe_timeout(), d.fixed_wait(), d.retries(), d.max_duration()), (ms(500), false, 2, s(3600)));
        assert_eq!(SweepOptions::new(None, 2, s(60)).map(|o| o.fixed_wait()), Ok(false));
        let given = SweepOptions::new(Some(ms(1500)), 2, s(60)).unwrap();
        assert_eq!((given.probe_timeout(), given.fixed_wait()), (ms(1500), true), "given: waited for in full");
    }

    #[test]
    fn a_segment_over_the_limit_is_refused_unless_allowed() {
        let big = TargetSet::parse(&["198.18.0.0/15".to_string()], &[]).unwrap();
        let err = check_target_size(&big, &Limits::default()).unwrap_err();
        assert!(err.contains("131072 addresses") && err.contains("--allow-large"), "{err}");
        assert!(check_target_size(&big, &Limits { allow_large_targets: true, ..Limits::default() }).is_ok());
    }
}
