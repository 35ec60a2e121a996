//! An asset's timeline: one list, newest first, of what happened to it —
//! register edits (who changed which fields, lifecycle moves), what changed
//! on the hosts it answers at (MAC, ports, names, OS, as host change
//! detection recorded them), each host's first sighting and its sightings
//! summarised per day (the last [`DAYS`] days), and its alerts opened,
//! acknowledged and resolved. [`merge`] is pure; [`load`]
//! reads the pieces.

use serde::Serialize;

use crate::alerts::{Alert, AlertFilter, AlertHistoryEntry, AlertState};
use crate::reconcile::Reconciler;
use crate::store::{AssetChange, DaySightings, HostRecord, StoreError};

/// Days of sightings a timeline summarises.
pub const DAYS: i64 = 30;

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When (unix ms).
    pub at_ms: i64,
    /// Who: a person, `census` (reconciliation) or the agent that saw it.
    pub who: String,
    /// `register`, `host`, `sighting` or `alert`.
    pub source: &'static str,
    /// What happened, for people.
    pub what: String,
}

/// Merge the pieces into one list, newest first (ties keep register before host before alert).
///
/// `hosts` come with their sightings per day (newest first); a day is one
/// line at its last sighting.
pub fn merge(
    edits: &[AssetChange],
    hosts: &[(HostRecord, Vec<DaySightings>)],
    alerts: &[(Alert, Vec<AlertHistoryEntry>)],
) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in edits {
        let mut what = e.action.clone();
        if let Some((from, to)) = &e.lifecycle {
            what =
                if from.is_empty() { format!("{what} ({to})") } else { format!("{what}: lifecycle {from} → {to}") };
        }
        if !e.fields.is_empty() {
            what.push_str(&format!("; fields {}", e.fields.join(", ")));
        }
        out.push(Entry { at_ms: e.at_ms, who: e.actor.clone(), source: "register", what });
    }
    for (h, days) in hosts {
        out.push(Entry {
            at_ms: h.first_seen_ms,
            who: h.last_agent.clone(),
            source: "sighting",
            what: format!("first seen at {}{}", h.ip, h.mac.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()),
        });
        for d in days {
            let day = time::OffsetDateTime::from_unix_timestamp(d.day_ms / 1000)
                .map(|t| t.date().to_string())
                .unwrap_or_default();
            let macs = if d.macs > 1 { format!(", {} different MACs", d.macs) } else { String::new() };
            out.push(Entry {
                at_ms: d.last_ms,
                who: h.last_agent.clone(),
                source: "sighting",
                what: format!("seen at {} {} time(s) on {day}{macs}", h.ip, d.count),
            });
        }
        for c in &h.changes {
            let what = match &c.old {
                Some(old) => format!("{} at {} changed: {old} → {}", c.kind, h.ip, c.new),
                None => format!("{} at {}: {}", c.kind, h.ip, c.new),
            };
            out.push(Entry { at_ms: c.at_ms, who: h.last_agent.clone(), source: "host", what });
        }
    }
    for (a, history) in alerts {
        for e in history {
            let mut what = format!("{} alert #{} {}", a.kind.as_str(), a.id, e.event.as_str());
            if let Some(n) = e.note.as_deref().filter(|n| !n.is_empty()) {
                what.push_str(&format!(": {n}"));
            }
            out.push(Entry { at_ms: e.at_ms, who: e.actor.clone(), source: "alert", what });
        }
    }
    let rank = |s: &str| match s {
        "register" => 0,
        "host" => 1,
        "sighting" => 2,
        _ => 3,
    };
    out.sort_by(|x, y| y.at_ms.cmp(&x.at_ms).then(rank(x.source).cmp(&rank(y.source))));
    out.dedup();
    out
}

/// Load and merge `tag`'s timeline: its register history, the hosts in `ips`
/// (where it was seen) and its alerts, live and resolved (at most 200).
///
/// # Errors
/// The store failed.
pub fn load(rec: &Reconciler, tag: &str, ips: &[String]) -> Result<Vec<Entry>, StoreError> {
    let store = rec.store();
    let edits = store.asset_history(tag)?;
    let mut hosts = Vec::new();
    let since = crate::store::now_ms() / 86_400_000 * 86_400_000 - (DAYS - 1) * 86_400_000;
    for ip in ips.iter().take(32) {
        if let Some(h) = store.host(ip)? {
            let days = store.sightings_by_day(ip, since)?;
            hosts.push((h, days));
        }
    }
    let mut alerts = Vec::new();
    for state in [None, Some(AlertState::Resolved)] {
        let filter = AlertFilter { tag: Some(tag.to_string()), state, limit: Some(100), ..Default::default() };
        for a in store.alerts(&filter)? {
            let history = store.alert_history(a.id)?;
            alerts.push((a, history));
        }
    }
    Ok(merge(&edits, &hosts, &alerts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::EventKind;
    use crate::store::HostChange;

    #[test]
    fn edits_host_changes_sightings_and_alert_events_in_one_list_newest_first() {
        let edits = vec![AssetChange {
            at_ms: 1_000,
            actor: "ann".into(),
            action: "update".into(),
            fields: vec!["owner".into()],
            lifecycle: Some(("deployed".into(), "decommissioned".into())),
        }];
        let host = HostRecord {
            ip: "198.18.0.10".into(),
            mac: Some("00:1b:21:00:00:01".into()),
            first_seen_ms: 500,
            last_seen_ms: 3_000,
            last_agent: "lab-1".into(),
            observations: 7,
            latest: serde_json::Value::Null,
            changes: vec![HostChange {
                at_ms: 2_000,
                batch_id: "b".into(),
                kind: "ports".into(),
                old: Some("22".into()),
                new: "22,3389".into(),
            }],
        };
        let days = vec![
            DaySightings { day_ms: 0, count: 5, first_ms: 1_200, last_ms: 3_000, macs: 1 },
            DaySightings { day_ms: -86_400_000, count: 2, first_ms: 500, last_ms: 900, macs: 2 },
        ];
        let hosts = vec![(host, days)];
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": 9, "kind": "should-be-retired", "subject": "asset:SRV-1", "state": "resolved", "severity": "high",
            "summary": "s", "first_seen_ms": 0, "last_seen_ms": 0, "opened_ms": 0, "updated_ms": 0, "updates": 0,
            "reopened": 0, "clear_count": 0, "rev": 0
        }))
        .unwrap();
        let history = vec![
            AlertHistoryEntry { at_ms: 2_500, actor: "census".into(), event: EventKind::Opened, note: None },
            AlertHistoryEntry {
                at_ms: 3_500,
                actor: "bob".into(),
                event: EventKind::Resolved,
                note: Some("wiped".into()),
            },
        ];
        let t = merge(&edits, &hosts, &[(alert, history)]);
        let lines: Vec<(i64, &str, &str)> = t.iter().map(|e| (e.at_ms, e.who.as_str(), e.what.as_str())).collect();
        assert_eq!(
            lines,
            [
                (3_500, "bob", "should-be-retired alert #9 resolved: wiped"),
                (3_000, "lab-1", "seen at 198.18.0.10 5 time(s) on 1970-01-01"),
                (2_500, "census", "should-be-retired alert #9 opened"),
                (2_000, "lab-1", "ports at 198.18.0.10 changed: 22 → 22,3389"),
                (1_000, "ann", "update: lifecycle deployed → decommissioned; fields owner"),
                (900, "lab-1", "seen at 198.18.0.10 2 time(s) on 1969-12-31, 2 different MACs"),
                (500, "lab-1", "first seen at 198.18.0.10 (00:1b:21:00:00:01)"),
            ]
        );
    }
}
