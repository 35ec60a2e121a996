//! The retry policy both ends use for delivery: the agent resending spooled
//! batches to the daemon, the daemon resending alert events to webhooks.
//! Exponential from 1 s, capped, with ±25 % jitter so many senders that
//! failed together do not retry in step.

use std::time::Duration;

/// Wait before retry `attempt` (1-based): 1 s doubling up to `max`, ±25 % jitter.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = 1000u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(20)).min(max.as_millis() as u64);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 500) as u64; // 0 to 0.5 of base
    Duration::from_millis(base * (750 + jitter) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_up_to_the_cap_with_jitter() {
        let max = Duration::from_secs(300);
        for _ in 0..50 {
            assert!((750..=1250).contains(&backoff(1, max).as_millis()));
            assert!((6000..=10_000).contains(&backoff(4, max).as_millis()));
            assert!((225_000..=375_000).contains(&backoff(40, max).as_millis()));
            assert!((1500..=2500).contains(&backoff(30, Duration::from_secs(2)).as_millis()));
        }
    }
}
