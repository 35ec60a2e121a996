//! The lifecycle with plain values: reopen, debounce, per-kind policy,
//! person-resolved alerts, suppression and the per-agent budget.

use super::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn settings() -> LifecycleSettings {
    LifecycleSettings { reopen_window_ms: 7 * DAY, clear_after_sweeps: 2, flood_per_hour: 3 }
}

fn finding(kind: AlertKind, subject: &str, seen: i64) -> Finding {
    Finding {
        kind,
        subject: subject.into(),
        severity: Severity::Medium,
        tag: subject.strip_prefix("asset:").map(String::from),
        ip: Some("198.18.0.5".into()),
        mac: None,
        vendor: None,
        segment: Some("lab".into()),
        agent: Some("a1".into()),
        summary: format!("{kind} {subject} at {seen}"),
        evidence: crate::alerts::evidence::placeholder(kind),
        first_seen_ms: seen,
        last_seen_ms: seen,
    }
}

fn decide_with(findings: &[Finding], clears: &[(AlertKind, &str, Clear)], existing: &[Alert], now: i64) -> Vec<Change> {
    let clears: HashMap<(AlertKind, String), Clear> =
        clears.iter().map(|(k, s, c)| ((*k, s.to_string()), c.clone())).collect();
    decide(Input {
        findings,
        clears: &clears,
        existing: existing.to_vec(),
        suppressions: &[],
        opened_last_hour: &HashMap::new(),
        settings: settings(),
        now_ms: now,
    })
}

/// A tiny in-memory alert table.
#[derive(Default)]
struct Table(Vec<Alert>);

impl Table {
    /// Decide against the table, apply the changes (giving inserts ids), return the events.
    fn step(&mut self, findings: &[Finding], clears: &[(AlertKind, &str, Clear)], now: i64) -> Vec<(EventKind, bool)> {
        let changes = decide_with(findings, clears, &self.0, now);
        let mut events = Vec::new();
        for mut c in changes {
            if c.alert.id == 0 {
                c.alert.id = self.0.len() as i64 + 1;
                self.0.push(c.alert.clone());
            } else {
                let i = self.0.iter().position(|a| a.id == c.alert.id).unwrap();
                self.0[i] = c.alert.clone();
            }
            if let Some(e) = c.event {
                events.push((e, c.notify));
            }
        }
        events
    }
}

fn observed(batch: &str, at: i64) -> Clear {
    Clear { cause: ClearCause::Observed { batch: batch.into() }, reason: "port closed".into(), at_ms: at }
}

#[test]
fn a_port_open_every_other_sweep_is_one_alert_and_one_notification() {
    let mut table = Table::default();
    let mut events = Vec::new();
    for sweep in 0..=10i64 {
        let t = sweep * DAY;
        let ev = if sweep % 2 == 0 {
            table.step(&[finding(AlertKind::NewService, "asset:WEB-1", t)], &[], t)
        } else {
            table.step(&[], &[(AlertKind::NewService, "asset:WEB-1", observed(&format!("b{sweep}"), t))], t)
        };
        events.extend(ev);
    }
    assert_eq!(table.0.len(), 1);
    assert_eq!(table.0[0].state, AlertState::Open);
    assert_eq!(events.iter().filter(|e| e.1).count(), 1, "{events:?}");
    // Two consecutive sweeps without it resolve it, saying so.
    let t = 11 * DAY;
    table.step(&[], &[(AlertKind::NewService, "asset:WEB-1", observed("b11", t))], t);
    assert_eq!(table.0[0].state, AlertState::Open, "one sweep is not enough");
    table.step(&[], &[(AlertKind::NewService, "asset:WEB-1", observed("b11", t))], t);
    assert_eq!(table.0[0].state, AlertState::Open, "the same sweep counts once");
    table.step(&[], &[(AlertKind::NewService, "asset:WEB-1", observed("b12", t))], t);
    assert_eq!(table.0[0].state, AlertState::Resolved);
    assert!(table.0[0].resolution.as_deref().unwrap().contains("2 consecutive complete sweeps"));
}

#[test]
fn a_returning_condition_reopens_the_same_alert_within_the_window_and_raises_anew_after() {
    let mut table = Table::default();
    table.step(&[finding(AlertKind::Missing, "asset:SRV-1", 0)], &[], 0);
    let seen = Clear { cause: ClearCause::Resolved, reason: "seen again".into(), at_ms: DAY };
    let ev = table.step(&[], &[(AlertKind::Missing, "asset:SRV-1", seen.clone())], DAY);
    assert_eq!(ev, vec![(EventKind::Resolved, true)]);
    let ev = table.step(&[finding(AlertKind::Missing, "asset:SRV-1", 0)], &[], 3 * DAY);
    assert_eq!(ev, vec![(EventKind::Reopened, true)]);
    assert_eq!((table.0.len(), table.0[0].reopened, table.0[0].state), (1, 1, AlertState::Open));
    assert!(table.0[0].resolved_ms.is_none());
    table.step(&[], &[(AlertKind::Missing, "asset:SRV-1", seen)], 4 * DAY);
    let ev = table.step(&[finding(AlertKind::Missing, "asset:SRV-1", 0)], &[], 20 * DAY);
    assert_eq!(ev, vec![(EventKind::Opened, true)]);
    assert_eq!(table.0.len(), 2, "after the reopen window a new alert is raised");
}

#[test]
fn sticky_kinds_wait_for_a_person_and_record_since_when_the_condition_is_absent() {
    for kind in [AlertKind::IdentityConflict, AlertKind::UnknownAsset, AlertKind::ShouldBeRetired] {
        let mut table = Table::default();
        table.step(&[finding(kind, "ip:198.18.0.5", HOUR)], &[], HOUR);
        let gone = Clear { cause: ClearCause::Absent, reason: "one MAC again".into(), at_ms: 2 * HOUR };
        table.step(&[], &[(kind, "ip:198.18.0.5", gone)], 3 * HOUR);
        assert_eq!(table.0[0].state, AlertState::Open, "{kind}");
        assert_eq!(table.0[0].absent_since_ms, Some(2 * HOUR));
        // A register change resolves it.
        let reg = Clear { cause: ClearCause::Register, reason: "now matches asset X".into(), at_ms: 4 * HOUR };
        table.step(&[], &[(kind, "ip:198.18.0.5", reg)], 4 * HOUR);
        assert_eq!(table.0[0].state, AlertState::Resolved, "{kind}");
    }
}

#[test]
fn a_person_resolving_holds_while_the_condition_continues_and_reopens_once_it_came_back() {
    let mut table = Table::default();
    table.step(&[finding(AlertKind::UnknownAsset, "device:mac:x", HOUR)], &[], HOUR);
    table.0[0].state = AlertState::Resolved;
    table.0[0].resolved_by = Some("alice".into());
    table.0[0].resolved_ms = Some(2 * HOUR);
    let ev = table.step(&[finding(AlertKind::UnknownAsset, "device:mac:x", 3 * HOUR)], &[], 3 * HOUR);
    assert!(ev.is_empty());
    assert_eq!(table.0[0].state, AlertState::Resolved, "alice's decision holds while the device stays");
    let gone = Clear { cause: ClearCause::Absent, reason: "gone".into(), at_ms: 4 * HOUR };
    table.step(&[], &[(AlertKind::UnknownAsset, "device:mac:x", gone)], 5 * HOUR);
    let ev = table.step(&[finding(AlertKind::UnknownAsset, "device:mac:x", 6 * HOUR)], &[], 6 * HOUR);
    assert_eq!(ev, vec![(EventKind::Reopened, true)]);
}

#[test]
fn an_agent_over_its_budget_gets_one_alert_flood_instead_of_more_device_alerts() {
    let findings: Vec<Finding> =
        (0..10).map(|i| finding(AlertKind::UnknownAsset, &format!("device:mac:{i}"), HOUR)).collect();
    let mut table = Table::default();
    table.step(&findings, &[], HOUR);
    let unknown = table.0.iter().filter(|a| a.kind == AlertKind::UnknownAsset).count();
    let flood: Vec<&Alert> = table.0.iter().filter(|a| a.kind == AlertKind::AlertFlood).collect();
    assert_eq!(unknown, 3);
    assert_eq!(flood.len(), 1);
    assert_eq!(flood[0].subject, "agent:a1");
    assert!(
        matches!(&flood[0].evidence, Some(crate::alerts::Evidence::AlertFlood(f)) if f.dropped == 7),
        "{:?}",
        flood[0].evidence
    );
    // Asset alerts are never held back by the budget.
    let assets: Vec<Finding> = (0..10).map(|i| finding(AlertKind::Missing, &format!("asset:S{i}"), HOUR)).collect();
    let mut table = Table::default();
    table.step(&assets, &[], HOUR);
    assert_eq!(table.0.len(), 10);
}

#[test]
fn late_evidence_widens_the_window_without_replacing_the_newer_description() {
    let mut table = Table::default();
    table.step(&[finding(AlertKind::ShouldBeRetired, "asset:OLD", 5 * DAY)], &[], 5 * DAY);
    table.step(&[finding(AlertKind::ShouldBeRetired, "asset:OLD", 2 * DAY)], &[], 6 * DAY);
    assert_eq!(table.0[0].first_seen_ms, 2 * DAY);
    assert_eq!(table.0[0].last_seen_ms, 5 * DAY);
    assert!(table.0[0].summary.ends_with(&format!("at {}", 5 * DAY)), "{}", table.0[0].summary);
}

#[test]
fn absent_since_is_the_earliest_absence_after_the_last_sighting_whatever_the_arrival_order() {
    let kind = AlertKind::IdentityConflict;
    let absent = |at: i64| Clear { cause: ClearCause::Absent, reason: "one MAC again".into(), at_ms: at };
    let mut table = Table::default();
    table.step(&[finding(kind, "ip:198.18.0.5", 2 * HOUR)], &[], 2 * HOUR);
    // A later sweep's clear arrives first, then an earlier one's (shuffled delivery).
    table.step(&[], &[(kind, "ip:198.18.0.5", absent(9 * HOUR))], 10 * HOUR);
    assert_eq!(table.0[0].absent_since_ms, Some(9 * HOUR));
    table.step(&[], &[(kind, "ip:198.18.0.5", absent(4 * HOUR))], 10 * HOUR);
    assert_eq!(table.0[0].absent_since_ms, Some(4 * HOUR), "the earlier absence wins");
    // A clear from before the last sighting says nothing about absence since.
    table.step(&[], &[(kind, "ip:198.18.0.5", absent(HOUR))], 10 * HOUR);
    assert_eq!(table.0[0].absent_since_ms, Some(4 * HOUR));
    assert_eq!(table.0[0].state, AlertState::Open);
}
