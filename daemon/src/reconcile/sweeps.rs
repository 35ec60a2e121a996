//! Complete sweeps, by scope: the evidence of absence.
//!
//! Absence of evidence is not evidence of absence. A host that did not
//! answer is *gone* only when complete sweeps of a scope that covers its
//! address ran after it was last seen and did not find it; a deployed asset
//! is *missing* only over such sweeps; partial sweeps (and passive
//! listening) never count against anything. So presence follows each
//! segment's own sweeps, whatever their cadence — every five minutes or
//! once a day — and never a wall-clock window, and an agent that stops
//! delivering makes nothing on its segments gone or missing (it raises one
//! `agent-silent` alert instead, see [`AgentCadence`]).
//!
//! Every time here is observation time (the agent's clock, bounded by
//! arrival), so the order and delay in which batches arrive do not change
//! any count: a spooled batch delivered two days late counts where it
//! belongs.
//!
//! [`SweepIndex`] keeps the complete sweeps within the reconciliation
//! horizon in memory (16 bytes a sweep: five-minute sweeps of 100 scopes
//! over 30 days is about 14 MB) and is refreshed from the store by the
//! batches' arrival sequence, so another daemon's ingests on a shared
//! database are seen too.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::register::Asset;

/// One delivered sweep as the store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    /// It covered its scope completely (only complete sweeps are evidence of absence).
    pub complete: bool,
    /// Arrival sequence (monotonic per database).
    pub seq: i64,
    /// Scope id (agent, segment name, targets, exclusions).
    pub scope: i64,
    /// Agent that swept.
    pub agent: String,
    /// Segment name.
    pub segment: String,
    /// Networks swept (already clipped to the agent's segments).
    pub targets: Vec<IpNet>,
    /// Networks left out.
    pub excluded: Vec<IpNet>,
    /// Sweep start, unix ms (observation time).
    pub started_ms: i64,
    /// Sweep end, unix ms (observation time).
    pub finished_ms: i64,
    /// The agent's configured interval for this segment, ms (1.2 agents).
    pub interval_ms: Option<i64>,
    /// The next sweep starts no later than this, unix ms (1.2 agents).
    pub next_due_ms: Option<i64>,
}

/// Complete sweeps of one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGroup {
    /// Agent.
    pub agent: String,
    /// Segment name.
    pub segment: String,
    /// Networks swept.
    pub targets: Vec<IpNet>,
    /// Networks left out.
    pub excluded: Vec<IpNet>,
    /// (started, finished) of each complete sweep, sorted by start.
    pub runs: Vec<(i64, i64)>,
    /// Schedule of the latest sweep, complete or not: (interval, next due), when the agent said.
    pub schedule: Option<(i64, i64)>,
    /// Finish of the latest sweep delivered, complete or not.
    pub last_delivered_ms: i64,
}

impl SweepGroup {
    /// Whether these sweeps look at `ip`.
    pub fn covers_ip(&self, ip: &IpAddr) -> bool {
        self.targets.iter().any(|t| t.contains(ip)) && !self.excluded.iter().any(|e| e.contains(ip))
    }

    /// Whether these sweeps look where `a` should be: its expected segment
    /// or one of its recorded addresses.
    pub fn covers(&self, a: &Asset) -> bool {
        if let Some(seg) = a.expected_segment
            && self.targets.iter().any(|t| t.contains(&seg) || seg.contains(&t.network()))
            && !self.excluded.iter().any(|e| e.contains(&seg))
        {
            return true;
        }
        a.ips.iter().any(|ip| self.covers_ip(ip))
    }

    /// Sweeps that started after `t`: (count, latest finish).
    pub fn after(&self, t: i64) -> (usize, i64) {
        let i = self.runs.partition_point(|r| r.0 <= t);
        let rest = &self.runs[i..];
        (rest.len(), rest.iter().map(|r| r.1).max().unwrap_or(i64::MIN))
    }

    /// Latest finish of any sweep.
    pub fn last_finish(&self) -> Option<i64> {
        self.runs.iter().map(|r| r.1).max()
    }
}

/// Complete sweeps each scope keeps past the horizon: enough to learn its
/// cadence (see `learned_interval`) and name its last complete sweep.
pub const KEEP_RUNS: usize = 10;

/// Misses of one host or asset: complete covering sweeps after its last sighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misses {
    /// Complete sweeps that covered it and started after `since`.
    pub count: usize,
    /// The latest of their finish times (observation time).
    pub last_finish_ms: i64,
    /// Whether any complete sweep covers it at all.
    pub covered: bool,
}

/// The complete sweeps within the horizon, by scope.
#[derive(Debug, Default, Clone)]
pub struct SweepIndex {
    groups: HashMap<i64, SweepGroup>,
    /// Highest arrival sequence loaded.
    pub seq: i64,
}

impl SweepIndex {
    /// Add sweeps (any order) read up to arrival sequence `seq`, whatever
    /// their age: [`SweepIndex::prune`] trims runs past the horizon to each
    /// scope's latest [`KEEP_RUNS`], so an agent silent for longer than the
    /// horizon keeps its cadence and its last complete sweep — it stays
    /// silent (and is not "resumed") however long it is away.
    pub fn extend(&mut self, rows: impl IntoIterator<Item = SweepRow>, seq: i64) {
        self.seq = self.seq.max(seq);
        for r in rows {
            self.seq = self.seq.max(r.seq);
            let g = self.groups.entry(r.scope).or_insert_with(|| SweepGroup {
                agent: r.agent.clone(),
                segment: r.segment.clone(),
                targets: r.targets.clone(),
                excluded: r.excluded.clone(),
                runs: Vec::new(),
                schedule: None,
                last_delivered_ms: i64::MIN,
            });
            if r.finished_ms >= g.last_delivered_ms {
                g.last_delivered_ms = r.finished_ms;
                // A batch without a schedule that is no sweep (passive
                // listening, an import) leaves the announced cadence alone.
                if r.complete || r.interval_ms.is_some() {
                    g.schedule = r.interval_ms.zip(r.next_due_ms);
                }
            }
            if r.complete {
                let i = g.runs.partition_point(|x| x.0 <= r.started_ms);
                g.runs.insert(i, (r.started_ms, r.finished_ms));
            }
        }
    }

    /// Forget sweeps that finished before `horizon_ms`, but for each scope's
    /// latest [`KEEP_RUNS`]. Scopes are never forgotten (one small entry
    /// each): an agent away for a month is still known to be silent.
    pub fn prune(&mut self, horizon_ms: i64) {
        for g in self.groups.values_mut() {
            let keep_from = g.runs.len().saturating_sub(KEEP_RUNS);
            let mut i = 0;
            g.runs.retain(|r| {
                i += 1;
                i > keep_from || r.1 >= horizon_ms
            });
        }
    }

    /// Every scope.
    pub fn groups(&self) -> impl Iterator<Item = &SweepGroup> {
        self.groups.values()
    }

    fn misses_by(&self, covers: impl Fn(&SweepGroup) -> bool, since: i64) -> Misses {
        let mut m = Misses { count: 0, last_finish_ms: i64::MIN, covered: false };
        // Scopes only ever swept partially are no evidence either way.
        for g in self.groups.values().filter(|g| !g.runs.is_empty() && covers(g)) {
            m.covered = true;
            let (n, last) = g.after(since);
            m.count += n;
            m.last_finish_ms = m.last_finish_ms.max(last);
        }
        m
    }

    /// Complete sweeps covering `ip` that started after `since`.
    pub fn misses_ip(&self, ip: &IpAddr, since: i64) -> Misses {
        self.misses_by(|g| g.covers_ip(ip), since)
    }

    /// Complete sweeps covering asset `a` that started after `since`.
    pub fn misses_asset(&self, a: &Asset, since: i64) -> Misses {
        self.misses_by(|g| g.covers(a), since)
    }

    /// Per agent: its scopes' last complete sweep and when the next was due.
    pub fn cadences(&self) -> Vec<AgentCadence> {
        let mut by_agent: HashMap<&str, AgentCadence> = HashMap::new();
        for g in self.groups.values() {
            let c = by_agent.entry(g.agent.as_str()).or_insert_with(|| AgentCadence {
                agent: g.agent.clone(),
                segments: Vec::new(),
                last_complete_ms: i64::MIN,
                last_delivered_ms: i64::MIN,
                due_ms: None,
                interval_ms: None,
            });
            c.segments.push((g.segment.clone(), g.targets.clone()));
            let last = g.last_delivered_ms;
            // The schedule the agent announced, else one learned from the gaps between sweeps.
            let (interval, due) = match g.schedule {
                Some((interval, due)) => (Some(interval), Some(due)),
                None => {
                    let learned = learned_interval(&g.runs);
                    (learned, learned.map(|i| last + i))
                }
            };
            c.last_complete_ms = c.last_complete_ms.max(g.last_finish().unwrap_or(i64::MIN));
            c.last_delivered_ms = c.last_delivered_ms.max(last);
            // An agent is due when its most overdue scope is due.
            if let Some(d) = due {
                c.due_ms = Some(c.due_ms.map_or(d, |x: i64| x.min(d)));
                c.interval_ms =
                    Some(c.interval_ms.map_or(interval.unwrap_or(0), |x: i64| x.max(interval.unwrap_or(0))));
            }
        }
        let mut out: Vec<AgentCadence> = by_agent.into_values().collect();
        for c in &mut out {
            c.segments.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.sort_by(|a, b| a.agent.cmp(&b.agent));
        out
    }
}

/// The median gap between the last ten complete sweeps (at least three sweeps).
fn learned_interval(runs: &[(i64, i64)]) -> Option<i64> {
    let tail = &runs[runs.len().saturating_sub(10)..];
    if tail.len() < 3 {
        return None;
    }
    let mut gaps: Vec<i64> = tail.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2]).filter(|g| *g > 0)
}

/// Graces (each one interval, at least ten minutes) an agent delivering
/// only partial sweeps gets after its next complete sweep was due, before it
/// counts as silent: with daily sweeps, the fourth day without a complete one.
pub const PARTIAL_GRACES: i64 = 3;

/// ...and never less than a day: partial sweeps still report presence, and
/// an agent sweeping every five minutes whose sweeps are cut short for an
/// hour or two (a busy segment, a lowered rate) is not silent.
pub const PARTIAL_AT_LEAST_MS: i64 = 86_400_000;

/// How one agent's complete sweeps arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCadence {
    /// Agent name.
    pub agent: String,
    /// Its segments: name and targets.
    pub segments: Vec<(String, Vec<IpNet>)>,
    /// Its last complete sweep's finish (observation time).
    pub last_complete_ms: i64,
    /// Its last sweep's finish, complete or not (observation time).
    pub last_delivered_ms: i64,
    /// When its next complete sweep was due at the latest (announced or learned).
    pub due_ms: Option<i64>,
    /// Its interval between sweeps, ms.
    pub interval_ms: Option<i64>,
}

impl AgentCadence {
    /// Silent at `now`: no sweep delivered by its due time plus a grace of
    /// one interval (at least ten minutes) — one late sweep is not silence —
    /// or no *complete* sweep for [`PARTIAL_GRACES`] graces after the next
    /// complete one was due (at least [`PARTIAL_AT_LEAST_MS`] in all): an agent that keeps delivering only partial
    /// sweeps is silent too (its segments get no missing verdicts, so
    /// someone must know), while a sweep or two cut short by their time
    /// limit are not. An agent with no known cadence (no schedule announced,
    /// fewer than three complete sweeps) is never silent.
    pub fn silent(&self, now_ms: i64) -> bool {
        let (Some(due), Some(interval)) = (self.due_ms, self.interval_ms) else { return false };
        let grace = interval.max(600_000);
        if now_ms > due.saturating_add(grace) {
            return true;
        }
        let partial_for = interval.saturating_add(grace.saturating_mul(PARTIAL_GRACES)).max(PARTIAL_AT_LEAST_MS);
        self.last_complete_ms != i64::MIN && now_ms > self.last_complete_ms.saturating_add(partial_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, scope: i64, start: i64) -> SweepRow {
        SweepRow {
            complete: true,
            seq,
            scope,
            agent: "a1".into(),
            segment: "lab".into(),
            targets: vec!["198.18.0.0/24".parse().unwrap()],
            excluded: vec!["198.18.0.1/32".parse().unwrap()],
            started_ms: start,
            finished_ms: start + 10,
            interval_ms: None,
            next_due_ms: None,
        }
    }

    #[test]
    fn misses_count_sweeps_that_started_after_the_sighting_whatever_their_arrival_order() {
        let mut idx = SweepIndex::default();
        idx.extend([row(3, 1, 300), row(1, 1, 100), row(2, 1, 200)], 3);
        assert_eq!(idx.seq, 3);
        let ip: IpAddr = "198.18.0.5".parse().unwrap();
        assert_eq!(idx.misses_ip(&ip, 150), Misses { count: 2, last_finish_ms: 310, covered: true });
        assert_eq!(idx.misses_ip(&ip, 100).count, 2, "the sweep that saw it is not a miss");
        let excluded: IpAddr = "198.18.0.1".parse().unwrap();
        assert!(!idx.misses_ip(&excluded, 0).covered, "excluded addresses are never swept");
        let elsewhere: IpAddr = "198.18.1.5".parse().unwrap();
        assert!(!idx.misses_ip(&elsewhere, 0).covered);
        idx.prune(250);
        assert_eq!(idx.misses_ip(&ip, 0).count, 3, "a scope's latest runs outlive the horizon");
        idx.extend((4..16).map(|i| row(i, 1, i * 100)), 15);
        idx.prune(1_000);
        // Six runs finished after the horizon; older ones are kept only up to the latest KEEP_RUNS.
        assert_eq!(idx.misses_ip(&ip, 0).count, KEEP_RUNS);
        assert_eq!(idx.misses_ip(&ip, 550).count, KEEP_RUNS);
        assert_eq!(idx.misses_ip(&ip, 450).count, KEEP_RUNS, "runs before the kept ones are gone");
    }

    #[test]
    fn an_agent_is_silent_only_after_its_due_time_plus_one_interval() {
        let mut idx = SweepIndex::default();
        let day = 86_400_000;
        let mut r = row(1, 1, 0);
        r.interval_ms = Some(day);
        r.next_due_ms = Some(day + 600_000);
        idx.extend([r], 1);
        let c = &idx.cadences()[0];
        assert!(!c.silent(day + 600_000 + day - 1));
        assert!(c.silent(2 * day + 600_001));
        // Learned from the gaps when the agent does not say.
        let mut idx = SweepIndex::default();
        idx.extend((0..5).map(|i| row(i, 2, i * 300_000)), 4);
        let c = &idx.cadences()[0];
        assert_eq!(c.interval_ms, Some(300_000));
        assert!(!c.silent(4 * 300_000 + 10 + 300_000 + 600_000));
        assert!(c.silent(4 * 300_000 + 10 + 300_000 + 600_001));
    }

    #[test]
    fn partial_sweeps_on_time_do_not_stop_silence_after_four_intervals_and_a_day() {
        let day = 86_400_000;
        // Daily: a complete sweep at 0, then partial ones every day, each announcing the next.
        let cadence = |last_partial_day: i64| AgentCadence {
            agent: "a1".into(),
            segments: vec![],
            last_complete_ms: 10,
            last_delivered_ms: last_partial_day * day + 10,
            due_ms: Some((last_partial_day + 1) * day + 600_000),
            interval_ms: Some(day),
        };
        assert!(!cadence(2).silent(3 * day), "two partial sweeps are not silence");
        assert!(!cadence(3).silent(4 * day + 10), "four intervals after the complete one, not yet");
        assert!(cadence(4).silent(4 * day + 11), "only partial sweeps for four days: silent");
        // Every five minutes: partial for hours is not silence, for over a day it is.
        let five = 300_000;
        let c = AgentCadence {
            agent: "a1".into(),
            segments: vec![],
            last_complete_ms: 0,
            last_delivered_ms: 6 * 3_600_000,
            due_ms: Some(6 * 3_600_000 + five),
            interval_ms: Some(five),
        };
        assert!(!c.silent(6 * 3_600_000));
        let mut later = c.clone();
        later.last_delivered_ms = day + 60_000;
        later.due_ms = Some(day + 60_000 + five);
        assert!(later.silent(day + 60_000), "a day of partial sweeps only");
    }
}
