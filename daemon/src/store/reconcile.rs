//! Reconciliation's reads (sightings, device debounce state, asset state,
//! sweep history, the register index inputs) and its one write: a plan
//! committed in a single transaction — matches, state, learned
//! certificates, and the alert changes with their outbox events.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::alerts::{AlertKind, AlertState, Finding, Severity};
use crate::reconcile::{AssetState, DeviceRecord, Identity, Plan, Sighting, SweepGroup};
use crate::register::Asset;

/// Which hosts' sightings to load.
#[derive(Debug, Clone)]
pub enum SightingSelect {
    /// These addresses.
    Ips(Vec<String>),
    /// Hosts last matched to these assets.
    Tags(Vec<String>),
    /// Hosts last seen at or after this time (unix ms).
    Since(i64),
}

/// What committing a plan did to alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Raised as open (or reopened).
    pub opened: usize,
    /// Raised or moved to suppressed.
    pub suppressed: usize,
    /// Updated by a repeat.
    pub updated: usize,
    /// Auto-resolved.
    pub resolved: usize,
    /// Outbox rows written.
    pub events: usize,
}

/// Assets with their creation time, and learned certificates.
pub fn index_inputs(c: &Connection) -> Result<super::IndexInputs, StoreError> {
    let mut st = c.prepare_cached("SELECT body, created_ms FROM assets")?;
    let rows: Vec<(String, i64)> =
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?.collect::<Result<_, _>>()?;
    let assets = crate::reconcile::parallel_map(&rows, |(body, created)| {
        serde_json::from_str::<Asset>(body).ok().map(|a| (a, *created))
    })
    .into_iter()
    .flatten()
    .collect();
    let mut st = c.prepare_cached("SELECT value, tag FROM learned_keys")?;
    let learned = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<HashMap<_, _>, _>>()?;
    Ok((assets, learned))
}

fn in_list(n: usize) -> String {
    let mut s = String::from("(");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
}

/// Latest sightings, with the asset each host was last matched to.
pub fn sightings(c: &Connection, sel: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError> {
    let decode = |r: &rusqlite::Row<'_>| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?));
    let rows: Vec<(Option<String>, Option<String>)> = match sel {
        SightingSelect::Since(t) => c
            .prepare_cached(
                "SELECT h.sighting, m.tag FROM hosts h LEFT JOIN host_matches m ON m.ip = h.ip WHERE h.last_seen_ms >= ?1",
            )?
            .query_map([t], decode)?
            .collect::<Result<_, _>>()?,
        SightingSelect::Ips(v) | SightingSelect::Tags(v) => {
            let col = if matches!(sel, SightingSelect::Ips(_)) { "h.ip" } else { "m.tag" };
            let mut out = Vec::new();
            for chunk in v.chunks(500) {
                let sql = format!(
                    "SELECT h.sighting, m.tag FROM hosts h LEFT JOIN host_matches m ON m.ip = h.ip WHERE {col} IN {}",
                    in_list(chunk.len())
                );
                let mut st = c.prepare(&sql)?;
                out.extend(st.query_map(rusqlite::params_from_iter(chunk), decode)?.collect::<Result<Vec<_>, _>>()?);
            }
            out
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(body, tag)| Some((serde_json::from_str::<Sighting>(body.as_deref()?).ok()?, tag)))
        .collect())
}

/// Debounce state of unknown devices: these keys, or every device seen since `since`.
pub fn devices(
    c: &Connection,
    keys: Option<&[String]>,
    since: i64,
) -> Result<HashMap<String, DeviceRecord>, StoreError> {
    let decode = |r: &rusqlite::Row<'_>| {
        Ok(DeviceRecord {
            key: r.get(0)?,
            first_ms: r.get(1)?,
            last_ms: r.get(2)?,
            sightings: r.get(3)?,
            last_batch: r.get(4)?,
            enriched: r.get(5)?,
        })
    };
    let cols = "SELECT key, first_ms, last_ms, sightings, last_batch, enriched FROM devices";
    let mut out = HashMap::new();
    match keys {
        None => {
            let mut st = c.prepare_cached(&format!("{cols} WHERE last_ms >= ?1"))?;
            for d in st.query_map([since], decode)? {
                let d = d?;
                out.insert(d.key.clone(), d);
            }
        }
        Some(keys) => {
            for chunk in keys.chunks(500) {
                let mut st = c.prepare(&format!("{cols} WHERE key IN {}", in_list(chunk.len())))?;
                for d in st.query_map(rusqlite::params_from_iter(chunk), decode)? {
                    let d = d?;
                    out.insert(d.key.clone(), d);
                }
            }
        }
    }
    Ok(out)
}

/// Per-asset reconciliation state: these tags, or all.
pub fn asset_states(c: &Connection, tags: Option<&[String]>) -> Result<HashMap<String, AssetState>, StoreError> {
    let mut out = HashMap::new();
    let mut take = |tag: String, body: String| {
        if let Ok(s) = serde_json::from_str(&body) {
            out.insert(tag, s);
        }
    };
    match tags {
        None => {
            let mut st = c.prepare_cached("SELECT tag, body FROM asset_state")?;
            for row in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
                let (t, b) = row?;
                take(t, b);
            }
        }
        Some(tags) => {
            let mut st = c.prepare_cached("SELECT body FROM asset_state WHERE tag = ?1")?;
            for t in tags {
                if let Some(b) = st.query_row([t], |r| r.get::<_, String>(0)).optional()? {
                    take(t.clone(), b);
                }
            }
        }
    }
    Ok(out)
}

/// One asset's reconciliation state.
pub fn asset_state(c: &Connection, tag: &str) -> Result<Option<AssetState>, StoreError> {
    Ok(asset_states(c, Some(&[tag.to_string()]))?.remove(tag))
}

/// Subjects with a live (not resolved) alert.
pub fn live_subjects(c: &Connection) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut st = c.prepare_cached("SELECT DISTINCT subject FROM alerts WHERE state != 'resolved'")?;
    let rows = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Complete sweeps finished after `since`, grouped by scope.
pub fn sweeps(c: &Connection, since: i64) -> Result<Vec<SweepGroup>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT segment, targets, excluded, started_ms, finished_ms FROM batches
         WHERE complete = 1 AND finished_ms > ?1 ORDER BY finished_ms",
    )?;
    let mut groups: HashMap<(String, String, String), SweepGroup> = HashMap::new();
    let rows = st.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
    for row in rows {
        let (segment, targets, excluded, started, finished): (String, String, String, i64, i64) = row?;
        let g = groups.entry((segment.clone(), targets.clone(), excluded.clone())).or_insert_with(|| SweepGroup {
            segment,
            targets: serde_json::from_str(&targets).unwrap_or_default(),
            excluded: serde_json::from_str(&excluded).unwrap_or_default(),
            runs: Vec::new(),
        });
        g.runs.push((started, finished));
    }
    Ok(groups.into_values().collect())
}

fn finding_columns(f: &Finding) -> (String, String) {
    (f.evidence.to_string(), f.severity.as_str().to_string())
}

/// Commit a plan; `routes` are the sinks that get events and their least severity.
pub fn commit(c: &mut Connection, plan: &Plan, routes: &[(String, Severity)]) -> Result<CommitOutcome, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = plan.now_ms;
    {
        let mut set_match = tx.prepare_cached(
            "INSERT INTO host_matches (ip, tag, info) VALUES (?1, ?2, ?3)
             ON CONFLICT (ip) DO UPDATE SET tag = excluded.tag, info = excluded.info WHERE info IS NOT excluded.info",
        )?;
        for (ip, id) in &plan.matches {
            let tag = if let Identity::Matched(m) = id { Some(m.tag.as_str()) } else { None };
            set_match.execute(params![ip, tag, serde_json::to_string(id).unwrap_or_default()])?;
        }
        let mut dev = tx.prepare_cached(
            "INSERT INTO devices (key, first_ms, last_ms, sightings, last_batch, enriched) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (key) DO UPDATE SET first_ms = excluded.first_ms, last_ms = excluded.last_ms,
               sightings = excluded.sightings, last_batch = excluded.last_batch, enriched = excluded.enriched",
        )?;
        for d in &plan.devices {
            dev.execute(params![d.key, d.first_ms, d.last_ms, d.sightings, d.last_batch, d.enriched])?;
        }
        let mut state = tx.prepare_cached(
            "INSERT INTO asset_state (tag, body) VALUES (?1, ?2) ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
        )?;
        for (tag, s) in &plan.states {
            state.execute(params![tag, serde_json::to_string(s).unwrap_or_default()])?;
        }
        let mut learn =
            tx.prepare_cached("INSERT OR IGNORE INTO learned_keys (value, tag, learned_ms) VALUES (?1, ?2, ?3)")?;
        for (value, tag) in &plan.learned {
            learn.execute(params![value, tag, now])?;
        }
    }
    let outcome = apply_findings(&tx, plan, routes)?;
    tx.commit()?;
    Ok(outcome)
}

fn apply_findings(
    tx: &Transaction<'_>,
    plan: &Plan,
    routes: &[(String, Severity)],
) -> Result<CommitOutcome, StoreError> {
    let now = plan.now_ms;
    let rules = super::alerts::active_suppressions(tx, now)?;
    type Live = HashMap<(AlertKind, String), (i64, AlertState, Severity)>;
    let mut live: Live = HashMap::new();
    {
        let mut st =
            tx.prepare_cached("SELECT id, kind, subject, state, severity FROM alerts WHERE state != 'resolved'")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (id, kind, subject, state, sev) = row?;
            if let (Ok(k), Ok(s), Ok(v)) = (kind.parse(), state.parse(), sev.parse()) {
                live.insert((k, subject), (id, s, v));
            }
        }
    }
    let mut out = CommitOutcome::default();
    let mut events: Vec<(i64, crate::alerts::EventKind, Severity)> = Vec::new();
    let mut insert = tx.prepare_cached(
        "INSERT INTO alerts (kind, subject, state, severity, tag, ip, mac, segment, agent, summary, evidence,
           first_seen_ms, last_seen_ms, opened_ms, updated_ms, suppressed_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE alerts SET state = ?2, severity = ?3, tag = ?4, ip = ?5, mac = ?6, segment = ?7, agent = ?8,
           summary = ?9, evidence = ?10, first_seen_ms = min(first_seen_ms, ?11), last_seen_ms = max(last_seen_ms, ?12),
           updated_ms = ?13, updates = updates + 1, suppressed_by = ?14 WHERE id = ?1",
    )?;
    for f in &plan.findings {
        let rule = rules.iter().find(|r| r.matches(f, now)).map(|r| r.id);
        let (evidence, severity) = finding_columns(f);
        let wanted = if rule.is_some() { AlertState::Suppressed } else { AlertState::Open };
        match live.remove(&(f.kind, f.subject.clone())) {
            None => {
                insert.execute(params![
                    f.kind.as_str(),
                    f.subject,
                    wanted.as_str(),
                    severity,
                    f.tag,
                    f.ip,
                    f.mac,
                    f.segment,
                    f.agent,
                    f.summary,
                    evidence,
                    f.first_seen_ms,
                    f.last_seen_ms,
                    now,
                    rule
                ])?;
                if rule.is_some() {
                    out.suppressed += 1;
                } else {
                    out.opened += 1;
                    events.push((tx.last_insert_rowid(), crate::alerts::EventKind::Opened, f.severity));
                }
            }
            Some((id, state, _)) => {
                let next = match (state, rule) {
                    (AlertState::Suppressed, None) => {
                        out.opened += 1;
                        events.push((id, crate::alerts::EventKind::Opened, f.severity));
                        AlertState::Open
                    }
                    (AlertState::Open | AlertState::Acknowledged, Some(_)) => {
                        out.suppressed += 1;
                        AlertState::Suppressed
                    }
                    (s, _) => {
                        out.updated += 1;
                        s
                    }
                };
                update.execute(params![
                    id,
                    next.as_str(),
                    severity,
                    f.tag,
                    f.ip,
                    f.mac,
                    f.segment,
                    f.agent,
                    f.summary,
                    evidence,
                    f.first_seen_ms,
                    f.last_seen_ms,
                    now,
                    rule
                ])?;
            }
        }
    }
    let mut resolve = tx.prepare_cached(
        "UPDATE alerts SET state = 'resolved', resolved_by = 'census', resolved_ms = ?2, resolution = ?3, updated_ms = ?2
         WHERE id = ?1",
    )?;
    for ((kind, subject), (id, state, severity)) in live {
        if plan.resolvable.as_ref().is_some_and(|r| !r.contains(&subject)) {
            continue;
        }
        let reason = plan.clear_reasons.get(&subject).cloned().unwrap_or_else(|| cleared(kind).to_string());
        resolve.execute(params![id, now, format!("auto-resolved: {reason}")])?;
        out.resolved += 1;
        if state != AlertState::Suppressed {
            events.push((id, crate::alerts::EventKind::Resolved, severity));
        }
    }
    for (id, kind, severity) in events {
        out.events += super::alerts::queue_event(tx, id, kind, severity, routes, now)?;
    }
    Ok(out)
}

/// What "the condition cleared" means for each kind.
fn cleared(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::UnknownAsset => "the device now matches a register asset, or was not seen within the window",
        AlertKind::ShouldBeRetired => "the asset no longer answers, or its lifecycle changed",
        AlertKind::Missing => "the asset was seen again, or is no longer expected on the network",
        AlertKind::IdentityConflict => "one MAC per address again, and the match is unambiguous",
        AlertKind::NewService => "the new ports closed again",
        AlertKind::CoverageGap => "the expected services answer again, or the asset left service",
        AlertKind::OutOfSupport => "support or licences were renewed, or the asset left service",
        AlertKind::PendingInUse => "the asset left procurement or stopped answering",
    }
}
