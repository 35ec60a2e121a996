//! Where a sweep's time went, for `census-agent scan --verbose`: each step's
//! wall time and, for the engine sweeps (ARP, on-link echo, SYN), each
//! round's probes, time spent sending (pacing included), time spent waiting
//! for answers after the last probe, what the round found, and how many
//! answers were stragglers (to an earlier round's probe). A slow sweep then
//! says whether it was sending (rate), waiting (round trips), retrying (loss
//! or silent addresses) or catching stragglers (hosts slower than a round's
//! wait). Socket-based steps (echo through sockets, connect(), names) show
//! their wall time only.

use std::fmt::Write as _;
use std::time::Duration;

use crate::sweep::engine::RoundStats;

/// One step of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTiming {
    /// `arp`, `ipv6 neighbours`, `icmp`, `tcp` or `services and names`.
    pub step: &'static str,
    /// Wall time of the step.
    pub elapsed: Duration,
    /// The engine's rounds (empty for socket-based steps).
    pub rounds: Vec<RoundStats>,
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The report, one line per step and one per round, ending with the total.
pub fn report(steps: &[StepTiming], total: Duration) -> String {
    let mut out = String::new();
    for s in steps {
        let _ = writeln!(out, "{:<20} {}", s.step, secs(s.elapsed));
        for (i, r) in s.rounds.iter().enumerate() {
            let kind = if i == 0 { "first round" } else { "retry" };
            let _ = writeln!(
                out,
                "  {kind:<12} {:>7} probes  sending {}  waiting {}  {} answered  {} stragglers",
                r.probes,
                secs(r.sending),
                secs(r.waiting),
                r.answered,
                r.stragglers
            );
        }
    }
    let accounted: Duration = steps.iter().map(|s| s.elapsed).sum();
    let _ = writeln!(out, "{:<20} {}", "other (setup, output)", secs(total.saturating_sub(accounted)));
    let _ = writeln!(out, "{:<20} {}", "total", secs(total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_and_round_is_a_line_and_the_rest_is_accounted() {
        let ms = Duration::from_millis;
        let steps = vec![
            StepTiming {
                step: "arp",
                elapsed: ms(400),
                rounds: vec![
                    RoundStats { probes: 510, sending: ms(200), waiting: ms(50), answered: 250, stragglers: 0 },
                    RoundStats { probes: 260, sending: ms(100), waiting: ms(50), answered: 1, stragglers: 1 },
                ],
            },
            StepTiming { step: "services and names", elapsed: ms(100), rounds: Vec::new() },
        ];
        let r = report(&steps, ms(600));
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 6, "{r}");
        assert_eq!(lines[0], "arp                  0.400 s");
        assert_eq!(
            lines[1],
            "  first round      510 probes  sending 0.200 s  waiting 0.050 s  250 answered  0 stragglers"
        );
        assert!(lines[2].ends_with("1 answered  1 stragglers"), "{r}");
        assert!(lines[2].starts_with("  retry            260 probes"), "{r}");
        assert_eq!(lines[4], "other (setup, output) 0.100 s");
        assert_eq!(lines[5], "total                0.600 s");
    }
}
