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

/// Failed sign-ins one source address may make in [`WINDOW_MS`] before its
/// further attempts are refused unchecked (whatever the account).
pub const SOURCE_FAILURES: usize = 20;
/// Most source addresses remembered; past it the tenth whose latest
/// failures are oldest are forgotten, so a flood from many addresses costs this much
/// memory and no more.
pub const SOURCES_CAP: usize = 10_000;

/// Failed sign-ins per source address, in memory (per daemon): the
/// per-account rule above stops guessing at one account; this one stops a
/// single address from spraying many account names — each attempt costs a
/// password check on the one lane all sign-ins share and an audit record.
/// IPv6 addresses count per /64 (one host holds a whole /64).
///
/// Behind a reverse proxy every sign-in comes from the proxy's address:
/// 20 failures a minute from all users together then pause sign-ins for a
/// minute — the daemon's log names the address.
#[derive(Debug, Default)]
pub struct SourceFailures {
    seen: std::collections::HashMap<std::net::IpAddr, Vec<i64>>,
}

impl SourceFailures {
    fn key(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            std::net::IpAddr::V6(v6) => {
                std::net::IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED))
            }
            v4 => v4,
        }
    }

    /// Whether `ip` may try a sign-in at `now_ms`.
    ///
    /// # Errors
    /// How long (ms) until it may.
    pub fn check(&mut self, ip: std::net::IpAddr, now_ms: i64) -> Result<(), i64> {
        let Some(times) = self.seen.get_mut(&Self::key(ip)) else { return Ok(()) };
        times.retain(|t| now_ms - t < WINDOW_MS);
        if times.len() < SOURCE_FAILURES {
            return Ok(());
        }
        let latest = times.iter().copied().max().unwrap_or(now_ms);
        Err((latest + WINDOW_MS - now_ms).max(1))
    }

    /// Count a failed sign-in from `ip` at `now_ms`.
    pub fn failed(&mut self, ip: std::net::IpAddr, now_ms: i64) {
        if self.seen.len() >= SOURCES_CAP && !self.seen.contains_key(&Self::key(ip)) {
            self.seen.retain(|_, times| times.iter().any(|t| now_ms - t < WINDOW_MS));
            if self.seen.len() >= SOURCES_CAP {
                // Forget the tenth whose latest failure is oldest, in one go.
                let mut latest: Vec<(i64, std::net::IpAddr)> =
                    self.seen.iter().map(|(k, t)| (t.iter().copied().max().unwrap_or(0), *k)).collect();
                let n = SOURCES_CAP / 10;
                latest.select_nth_unstable(n);
                for (_, k) in &latest[..n] {
                    self.seen.remove(k);
                }
            }
        }
        let times = self.seen.entry(Self::key(ip)).or_default();
        times.retain(|t| now_ms - t < WINDOW_MS);
        // Past the limit the source is refused unchecked: no need to keep more.
        if times.len() < SOURCE_FAILURES {
            times.push(now_ms);
        }
    }

    /// Take back one failure recorded at `at_ms` for `ip` (an attempt
    /// counted as failed before its password was checked, which succeeded).
    pub fn forgive(&mut self, ip: std::net::IpAddr, at_ms: i64) {
        if let Some(times) = self.seen.get_mut(&Self::key(ip))
            && let Some(i) = times.iter().position(|t| *t == at_ms)
        {
            times.swap_remove(i);
        }
    }

    /// Sources remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_failures_from_one_address_pause_it_whatever_the_account() {
        let mut s = SourceFailures::default();
        let (a, b): (std::net::IpAddr, std::net::IpAddr) =
            ("198.18.0.5".parse().unwrap(), "198.18.0.6".parse().unwrap());
        let now = 1_000_000;
        for i in 0..SOURCE_FAILURES as i64 {
            assert_eq!(s.check(a, now + i), Ok(()));
            s.failed(a, now + i);
        }
        assert_eq!(s.check(a, now + 20), Err(WINDOW_MS - 1));
        assert_eq!(s.check(b, now + 20), Ok(()), "another address is not paused");
        assert_eq!(s.check(a, now + 19 + WINDOW_MS), Ok(()), "a minute after the latest failure");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let mut s = SourceFailures::default();
        let now = 5_000_000;
        for i in 0..SOURCE_FAILURES as u16 {
            s.failed(format!("2001:2::{:x}", i + 1).parse().unwrap(), now);
        }
        assert!(s.check("2001:2::ffff:1".parse().unwrap(), now).is_err(), "same /64");
        assert!(s.check("2001:2:0:1::1".parse().unwrap(), now).is_ok(), "another /64");
        for _ in 0..SOURCE_FAILURES {
            s.failed("::ffff:198.18.0.9".parse().unwrap(), now);
        }
        assert!(s.check("198.18.0.9".parse().unwrap(), now).is_err());
    }

    #[test]
    fn a_flood_from_many_addresses_stays_within_the_cap() {
        let mut s = SourceFailures::default();
        for n in 0..(SOURCES_CAP as u32 + 5_000) {
            let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + n);
            s.failed(ip.into(), 1_000 + i64::from(n));
        }
        assert!(s.len() <= SOURCES_CAP, "{}", s.len());
    }

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
