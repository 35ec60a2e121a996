//! Sign-in throttling: after [`FAILURES`] failed sign-ins to one account
//! within [`WINDOW_MS`], further attempts on that account are refused
//! without checking the password until the window since the latest failure
//! has passed. The failures are counted from the audit log, so the rule holds
//! across restarts and across daemons sharing one database.
//!
//! Throttling is per account, not per address: a guesser cannot spread
//! attempts over many addresses, and the price — a person locked out for a
//! minute while someone guesses at their name — is logged in the audit.

/// Failures in the window after which an account is throttled.
pub const FAILURES: usize = 5;
/// The window, ms.
pub const WINDOW_MS: i64 = 60_000;

/// Whether a sign-in may be tried at `now_ms`, given the times (unix ms)
/// of the account's failed sign-ins in the last [`WINDOW_MS`].
///
/// # Errors
/// How long to wait (ms) before the next attempt is considered.
pub fn check(failures_ms: &[i64], now_ms: i64) -> Result<(), i64> {
    let recent: Vec<i64> = failures_ms.iter().copied().filter(|t| now_ms - t < WINDOW_MS).collect();
    if recent.len() < FAILURES {
        return Ok(());
    }
    let latest = recent.iter().copied().max().unwrap_or(now_ms);
    Err((latest + WINDOW_MS - now_ms).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_a_minute_slow_the_account_down() {
        let now = 1_000_000;
        assert_eq!(check(&[], now), Ok(()));
        let four: Vec<i64> = (1..=4).map(|i| now - i * 1000).collect();
        assert_eq!(check(&four, now), Ok(()));
        let five: Vec<i64> = (1..=5).map(|i| now - i * 1000).collect();
        assert_eq!(check(&five, now), Err(59_000));
        // Old failures do not count.
        let old: Vec<i64> = (1..=5).map(|i| now - WINDOW_MS - i).collect();
        assert_eq!(check(&old, now), Ok(()));
    }
}
