//! A global packets-per-second limit shared by every technique of a sweep.
//!
//! Credit accrues at `pps`; at most a small burst (5 ms worth) can be saved
//! up, so a sender that was held up by the in-flight cap does not then fire
//! a flood to catch up. [`RateLimiter::slow_down`] halves the rate when the
//! sweep sees loss rising (adaptive backoff).

use std::time::{Duration, Instant};

/// Lowest rate backoff goes down to.
pub const MIN_PPS: f64 = 10.0;

/// Token-bucket pacing for probes.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    pps: f64,
    configured: f64,
    epoch: Instant,
    /// Probes accounted since `epoch` (may be advanced to drop unused credit).
    spent: f64,
    sent_total: u64,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
}

impl RateLimiter {
    /// A limiter at `pps` packets per second.
    pub fn new(pps: u32) -> Self {
        let pps = f64::from(pps.max(1));
        RateLimiter {
            pps,
            configured: pps,
            epoch: Instant::now(),
            spent: 0.0,
            sent_total: 0,
            first_send: None,
            last_send: None,
        }
    }

    fn burst(&self) -> f64 {
        (self.pps * 0.005).max(1.0)
    }

    /// How long until the next probe may go (zero: now).
    pub fn delay(&mut self, now: Instant) -> Duration {
        let earned = now.saturating_duration_since(self.epoch).as_secs_f64() * self.pps;
        if earned - self.spent > self.burst() {
            self.spent = earned - self.burst();
        }
        if self.spent + 1.0 <= earned + self.burst().min(1.0) {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((self.spent + 1.0 - earned) / self.pps)
        }
    }

    /// Account one probe sent at `now`.
    pub fn consume(&mut self, now: Instant) {
        self.spent += 1.0;
        self.sent_total += 1;
        self.first_send.get_or_insert(now);
        self.last_send = Some(now);
    }

    /// Halve the rate (not below [`MIN_PPS`]).
    pub fn slow_down(&mut self) {
        let now = Instant::now();
        self.pps = (self.pps / 2.0).max(MIN_PPS);
        self.epoch = now;
        self.spent = 0.0;
    }

    /// Current rate.
    pub fn pps(&self) -> f64 {
        self.pps
    }

    /// Configured rate.
    pub fn configured_pps(&self) -> u32 {
        self.configured as u32
    }

    /// Probes sent through this limiter.
    pub fn sent_total(&self) -> u64 {
        self.sent_total
    }

    /// Average rate achieved between the first and last probe.
    pub fn achieved_pps(&self) -> f64 {
        match (self.first_send, self.last_send) {
            (Some(a), Some(b)) if b > a => (self.sent_total.saturating_sub(1)) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Wait (asynchronously) until `limiter` lets one probe go, and account it.
/// For the async sweeps (ICMP, connect) that share the global limit.
pub async fn acquire(limiter: &std::sync::Mutex<RateLimiter>) {
    loop {
        let wait = {
            let mut l = limiter.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let d = l.delay(now);
            if d.is_zero() {
                l.consume(now);
            }
            d
        };
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_to_the_configured_rate() {
        let mut r = RateLimiter::new(1000);
        let t0 = r.epoch;
        let mut now = t0;
        let mut sent = 0;
        // Simulate 100 ms of a sender that sends whenever allowed.
        while now < t0 + Duration::from_millis(100) {
            let d = r.delay(now);
            if d.is_zero() {
                r.consume(now);
                sent += 1;
            } else {
                now += d;
            }
        }
        assert!((99..=107).contains(&sent), "sent {sent} in 100 ms at 1000 pps");
    }

    #[test]
    fn idle_time_does_not_become_a_flood() {
        let mut r = RateLimiter::new(10_000);
        let later = r.epoch + Duration::from_secs(10);
        let mut burst = 0;
        while r.delay(later).is_zero() {
            r.consume(later);
            burst += 1;
            assert!(burst < 1000, "unbounded burst");
        }
        assert!(burst <= 51, "burst {burst}");
    }

    #[test]
    fn slow_down_halves_with_a_floor() {
        let mut r = RateLimiter::new(40);
        r.slow_down();
        assert_eq!(r.pps(), 20.0);
        r.slow_down();
        r.slow_down();
        assert_eq!(r.pps(), MIN_PPS);
        assert_eq!(r.configured_pps(), 40);
    }
}
