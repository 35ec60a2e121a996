//! PostgreSQL: a reconcile plan's alert changes written set-wise.
//!
//! [`alerts::write_checked`] writes one change in four to six statements,
//! each a round trip to the server. A run that opens 1,000 alerts made
//! 3,000 of them, all inside the transaction holding the write lock, so
//! every ingest waited for them: most of an agent's receipt time on
//! PostgreSQL was that wait (pg_stat_statements: 65,000 single-row alert
//! inserts in a 300-batch ingest bench). Here the same rows are written with
//! one statement per kind of row, whatever the number of changes:
//!
//! 1. updated alerts, each only when its `rev` is still the one the
//!    decision read (`RETURNING` names those written; the others are
//!    [`Stale`], exactly as [`alerts::write_checked`] refuses them), then
//!    the described ones' new description and evidence;
//! 2. new alerts, with ids drawn in change order from the identity's
//!    sequence (the ids SQLite's one-by-one inserts give), and their evidence;
//! 3. the history entries, then the outbox rows, both in change order, so
//!    event and delivery order are those of the sequential writer; an outbox
//!    row carries the alert as stored once every row is written.
//!
//! The result equals writing the changes one by one, because no two
//! changes here touch the same alert or the same (kind, subject) — a plan
//! that does, or one that accepts ports into a baseline (a person's
//! resolution, never reconciliation), is written one by one instead.

use std::collections::{HashMap, HashSet};

use postgres::types::{ToSql, Type};

use super::alerts::{self, Stale};
use super::{Tx, chunk};
use crate::alerts::Alert;
use crate::alerts::lifecycle::Change;
use crate::store::StoreError;
use crate::store::shared::alerts::{self as shared, COLUMNS, FROM};

/// What writing each change came to, in the order of `changes`: its outbox
/// rows written, or [`Stale`] (nothing written for it).
///
/// # Errors
/// The store failed; the caller's transaction is then rolled back.
pub(super) fn write_checked_all(
    tx: &mut Tx<'_>,
    changes: &[&Change],
    now: i64,
) -> Result<Vec<Result<usize, Stale>>, StoreError> {
    if !set_wise(changes) {
        return changes.iter().map(|c| alerts::write_checked(tx, c, now)).collect();
    }
    let updates: Vec<&Alert> = changes.iter().map(|c| &c.alert).filter(|a| a.id != 0).collect();
    let written = update(tx, &updates)?;
    let described: Vec<&Alert> =
        changes.iter().filter(|c| c.described && written.contains(&c.alert.id)).map(|c| &c.alert).collect();
    describe(tx, &described)?;
    let inserts: Vec<&Alert> = changes.iter().map(|c| &c.alert).filter(|a| a.id == 0).collect();
    let mut new_ids = insert(tx, &inserts)?.into_iter();
    // Each change's alert id, or `None` when its update was refused.
    let ids: Vec<Option<i64>> = changes
        .iter()
        .map(|c| if c.alert.id == 0 { new_ids.next() } else { written.contains(&c.alert.id).then_some(c.alert.id) })
        .collect();
    record_events(tx, changes, &ids, now)?;
    let sent = queue_notifications(tx, changes, &ids, now)?;
    Ok(ids.iter().zip(sent).map(|(id, n)| if id.is_some() { Ok(n) } else { Err(Stale) }).collect())
}

/// Whether the changes may be written set-wise (see the module docs).
fn set_wise(changes: &[&Change]) -> bool {
    let mut ids = HashSet::new();
    let mut subjects = HashSet::new();
    changes.iter().all(|c| {
        c.accept_ports.is_empty()
            && (c.alert.id == 0 || ids.insert(c.alert.id))
            && subjects.insert((c.alert.kind, c.alert.subject.as_str()))
    })
}

/// Write the lifecycle columns of `alerts` whose stored `rev` is the one
/// they were decided from; the ids written.
fn update(tx: &mut Tx<'_>, alerts: &[&Alert]) -> Result<HashSet<i64>, StoreError> {
    if alerts.is_empty() {
        return Ok(HashSet::new());
    }
    let id: Vec<i64> = alerts.iter().map(|a| a.id).collect();
    let state: Vec<&str> = alerts.iter().map(|a| a.state.as_str()).collect();
    let first: Vec<i64> = alerts.iter().map(|a| a.first_seen_ms).collect();
    let last: Vec<i64> = alerts.iter().map(|a| a.last_seen_ms).collect();
    let updated: Vec<i64> = alerts.iter().map(|a| a.updated_ms).collect();
    let updates: Vec<i64> = alerts.iter().map(|a| a.updates).collect();
    let acked_by: Vec<Option<&str>> = alerts.iter().map(|a| a.acked_by.as_deref()).collect();
    let acked_ms: Vec<Option<i64>> = alerts.iter().map(|a| a.acked_ms).collect();
    let resolved_by: Vec<Option<&str>> = alerts.iter().map(|a| a.resolved_by.as_deref()).collect();
    let resolved_ms: Vec<Option<i64>> = alerts.iter().map(|a| a.resolved_ms).collect();
    let resolution: Vec<Option<&str>> = alerts.iter().map(|a| a.resolution.as_deref()).collect();
    let suppressed_by: Vec<Option<i64>> = alerts.iter().map(|a| a.suppressed_by).collect();
    let reopened: Vec<i64> = alerts.iter().map(|a| a.reopened).collect();
    let absent: Vec<Option<i64>> = alerts.iter().map(|a| a.absent_since_ms).collect();
    let clear_count: Vec<i64> = alerts.iter().map(|a| a.clear_count).collect();
    let clear_batch: Vec<Option<&str>> = alerts.iter().map(|a| a.clear_batch.as_deref()).collect();
    let rev: Vec<i64> = alerts.iter().map(|a| a.rev).collect();
    let rows = tx.query_typed(
        "UPDATE alerts a SET state = u.state, first_seen_ms = u.first_seen, last_seen_ms = u.last_seen,
           updated_ms = u.updated, updates = u.updates, acked_by = u.acked_by, acked_ms = u.acked_ms,
           resolved_by = u.resolved_by, resolved_ms = u.resolved_ms, resolution = u.resolution,
           suppressed_by = u.suppressed_by, reopened = u.reopened, absent_since_ms = u.absent,
           clear_count = u.clear_count, clear_batch = u.clear_batch, rev = a.rev + 1
         FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
           AS u(id, state, first_seen, last_seen, updated, updates, acked_by, acked_ms, resolved_by, resolved_ms,
                resolution, suppressed_by, reopened, absent, clear_count, clear_batch, rev)
         WHERE a.id = u.id AND a.rev = u.rev
         RETURNING a.id",
        &[
            (&id, Type::INT8_ARRAY),
            (&state, Type::TEXT_ARRAY),
            (&first, Type::INT8_ARRAY),
            (&last, Type::INT8_ARRAY),
            (&updated, Type::INT8_ARRAY),
            (&updates, Type::INT8_ARRAY),
            (&acked_by, Type::TEXT_ARRAY),
            (&acked_ms, Type::INT8_ARRAY),
            (&resolved_by, Type::TEXT_ARRAY),
            (&resolved_ms, Type::INT8_ARRAY),
            (&resolution, Type::TEXT_ARRAY),
            (&suppressed_by, Type::INT8_ARRAY),
            (&reopened, Type::INT8_ARRAY),
            (&absent, Type::INT8_ARRAY),
            (&clear_count, Type::INT8_ARRAY),
            (&clear_batch, Type::TEXT_ARRAY),
            (&rev, Type::INT8_ARRAY),
        ],
    )?;
    rows.iter().map(|r| r.try_get(0).map_err(StoreError::from)).collect()
}

/// Write the new description (where, summary, digest) and evidence of `alerts`.
fn describe(tx: &mut Tx<'_>, alerts: &[&Alert]) -> Result<(), StoreError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let d = Described::of(alerts);
    tx.execute_typed(
        "UPDATE alerts a SET severity = u.severity, tag = u.tag, ip = u.ip, mac = u.mac, segment = u.segment,
           agent = u.agent, summary = u.summary, vendor = u.vendor, digest = u.digest
         FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           AS u(id, severity, tag, ip, mac, segment, agent, summary, vendor, digest)
         WHERE a.id = u.id",
        &[
            (&d.id, Type::INT8_ARRAY),
            (&d.severity, Type::TEXT_ARRAY),
            (&d.tag, Type::TEXT_ARRAY),
            (&d.ip, Type::TEXT_ARRAY),
            (&d.mac, Type::TEXT_ARRAY),
            (&d.segment, Type::TEXT_ARRAY),
            (&d.agent, Type::TEXT_ARRAY),
            (&d.summary, Type::TEXT_ARRAY),
            (&d.vendor, Type::TEXT_ARRAY),
            (&d.digest, Type::INT8_ARRAY),
        ],
    )?;
    write_evidence(tx, &d.id, alerts)
}

/// Insert `alerts` (new, id 0) with ids drawn in their order; the ids.
fn insert(tx: &mut Tx<'_>, alerts: &[&Alert]) -> Result<Vec<i64>, StoreError> {
    let ids = chunk::draw_ids(tx, "alerts", alerts.len())?;
    if alerts.is_empty() {
        return Ok(ids);
    }
    let mut d = Described::of(alerts);
    d.id.clone_from(&ids);
    let kind: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    let subject: Vec<&str> = alerts.iter().map(|a| a.subject.as_str()).collect();
    let state: Vec<&str> = alerts.iter().map(|a| a.state.as_str()).collect();
    let first: Vec<i64> = alerts.iter().map(|a| a.first_seen_ms).collect();
    let last: Vec<i64> = alerts.iter().map(|a| a.last_seen_ms).collect();
    let opened: Vec<i64> = alerts.iter().map(|a| a.opened_ms).collect();
    let updated: Vec<i64> = alerts.iter().map(|a| a.updated_ms).collect();
    let updates: Vec<i64> = alerts.iter().map(|a| a.updates).collect();
    let acked_by: Vec<Option<&str>> = alerts.iter().map(|a| a.acked_by.as_deref()).collect();
    let acked_ms: Vec<Option<i64>> = alerts.iter().map(|a| a.acked_ms).collect();
    let resolved_by: Vec<Option<&str>> = alerts.iter().map(|a| a.resolved_by.as_deref()).collect();
    let resolved_ms: Vec<Option<i64>> = alerts.iter().map(|a| a.resolved_ms).collect();
    let resolution: Vec<Option<&str>> = alerts.iter().map(|a| a.resolution.as_deref()).collect();
    let suppressed_by: Vec<Option<i64>> = alerts.iter().map(|a| a.suppressed_by).collect();
    let reopened: Vec<i64> = alerts.iter().map(|a| a.reopened).collect();
    let absent: Vec<Option<i64>> = alerts.iter().map(|a| a.absent_since_ms).collect();
    let clear_count: Vec<i64> = alerts.iter().map(|a| a.clear_count).collect();
    let clear_batch: Vec<Option<&str>> = alerts.iter().map(|a| a.clear_batch.as_deref()).collect();
    let params: [(&(dyn ToSql + Sync), Type); 28] = [
        (&d.id, Type::INT8_ARRAY),
        (&kind, Type::TEXT_ARRAY),
        (&subject, Type::TEXT_ARRAY),
        (&state, Type::TEXT_ARRAY),
        (&d.severity, Type::TEXT_ARRAY),
        (&d.tag, Type::TEXT_ARRAY),
        (&d.ip, Type::TEXT_ARRAY),
        (&d.mac, Type::TEXT_ARRAY),
        (&d.segment, Type::TEXT_ARRAY),
        (&d.agent, Type::TEXT_ARRAY),
        (&d.summary, Type::TEXT_ARRAY),
        (&first, Type::INT8_ARRAY),
        (&last, Type::INT8_ARRAY),
        (&opened, Type::INT8_ARRAY),
        (&updated, Type::INT8_ARRAY),
        (&updates, Type::INT8_ARRAY),
        (&acked_by, Type::TEXT_ARRAY),
        (&acked_ms, Type::INT8_ARRAY),
        (&resolved_by, Type::TEXT_ARRAY),
        (&resolved_ms, Type::INT8_ARRAY),
        (&resolution, Type::TEXT_ARRAY),
        (&suppressed_by, Type::INT8_ARRAY),
        (&reopened, Type::INT8_ARRAY),
        (&absent, Type::INT8_ARRAY),
        (&clear_count, Type::INT8_ARRAY),
        (&clear_batch, Type::TEXT_ARRAY),
        (&d.vendor, Type::TEXT_ARRAY),
        (&d.digest, Type::INT8_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO alerts (id, kind, subject, state, severity, tag, ip, mac, segment, agent, summary,
           first_seen_ms, last_seen_ms, opened_ms, updated_ms, updates, acked_by, acked_ms, resolved_by,
           resolved_ms, resolution, suppressed_by, reopened, absent_since_ms, clear_count, clear_batch, vendor,
           digest)
         SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
           $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
        &params,
    )?;
    write_evidence(tx, &ids, alerts)?;
    Ok(ids)
}

/// Store the evidence of `alerts` (ids `ids`), replacing any stored.
fn write_evidence(tx: &mut Tx<'_>, ids: &[i64], alerts: &[&Alert]) -> Result<(), StoreError> {
    let evidence: Vec<String> = alerts.iter().map(|a| shared::evidence_text(a)).collect();
    tx.execute_typed(
        "INSERT INTO alert_evidence (alert_id, evidence) SELECT * FROM UNNEST($1, $2)
         ON CONFLICT (alert_id) DO UPDATE SET evidence = excluded.evidence",
        &[(&ids, Type::INT8_ARRAY), (&evidence, Type::TEXT_ARRAY)],
    )?;
    Ok(())
}

/// The history entry of each written change that has an event, in change order.
fn record_events(tx: &mut Tx<'_>, changes: &[&Change], ids: &[Option<i64>], now: i64) -> Result<(), StoreError> {
    let (mut alert, mut actor, mut event, mut note) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (c, id) in changes.iter().zip(ids) {
        if let (Some(id), Some(e)) = (id, c.event) {
            alert.push(*id);
            actor.push(c.actor.as_str());
            event.push(e.as_str());
            note.push(c.note.as_deref());
        }
    }
    if alert.is_empty() {
        return Ok(());
    }
    tx.execute_typed(
        "INSERT INTO alert_events (alert_id, at_ms, actor, event, note)
         SELECT u.a, $5, u.actor, u.event, u.note FROM UNNEST($1, $2, $3, $4) WITH ORDINALITY
           AS u(a, actor, event, note, n)
         ORDER BY u.n",
        &[
            (&alert, Type::INT8_ARRAY),
            (&actor, Type::TEXT_ARRAY),
            (&event, Type::TEXT_ARRAY),
            (&note, Type::TEXT_ARRAY),
            (&now, Type::INT8),
        ],
    )?;
    Ok(())
}

/// One outbox row per sink of each written change that has an event, in
/// change and then sink order, carrying the alert as stored now; the rows
/// written per change.
fn queue_notifications(
    tx: &mut Tx<'_>,
    changes: &[&Change],
    ids: &[Option<i64>],
    now: i64,
) -> Result<Vec<usize>, StoreError> {
    let notified: Vec<i64> =
        changes.iter().zip(ids).filter_map(|(c, id)| id.filter(|_| c.event.is_some() && !c.sinks.is_empty())).collect();
    if notified.is_empty() {
        return Ok(vec![0; changes.len()]);
    }
    let stored: HashMap<i64, Alert> = tx
        .query_typed(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = ANY($1)"), &[(&notified, Type::INT8_ARRAY)])?
        .iter()
        .map(|r| alerts::alert_row(r).map(|a| (a.id, a)))
        .collect::<Result<_, _>>()?;
    let (mut sinks, mut bodies, mut sent) = (Vec::new(), Vec::new(), Vec::with_capacity(changes.len()));
    for (c, id) in changes.iter().zip(ids) {
        let alert = id.and_then(|id| stored.get(&id));
        let (Some(event), Some(alert)) = (c.event, alert) else {
            sent.push(0);
            continue;
        };
        let body = shared::event_body(event, now, alert.clone());
        for sink in &c.sinks {
            sinks.push(sink.as_str());
            bodies.push(body.clone());
        }
        sent.push(c.sinks.len());
    }
    tx.execute_typed(
        "INSERT INTO outbox (sink, event, created_ms, next_ms)
         SELECT u.sink, u.event, $3, $3 FROM UNNEST($1, $2) WITH ORDINALITY AS u(sink, event, n) ORDER BY u.n",
        &[(&sinks, Type::TEXT_ARRAY), (&bodies, Type::TEXT_ARRAY), (&now, Type::INT8)],
    )?;
    Ok(sent)
}

/// The description columns of some alerts, as statement arrays.
struct Described<'a> {
    id: Vec<i64>,
    severity: Vec<&'a str>,
    tag: Vec<Option<&'a str>>,
    ip: Vec<Option<&'a str>>,
    mac: Vec<Option<&'a str>>,
    segment: Vec<Option<&'a str>>,
    agent: Vec<Option<&'a str>>,
    summary: Vec<&'a str>,
    vendor: Vec<Option<&'a str>>,
    digest: Vec<i64>,
}

impl<'a> Described<'a> {
    fn of(alerts: &[&'a Alert]) -> Self {
        Described {
            id: alerts.iter().map(|a| a.id).collect(),
            severity: alerts.iter().map(|a| a.severity.as_str()).collect(),
            tag: alerts.iter().map(|a| a.tag.as_deref()).collect(),
            ip: alerts.iter().map(|a| a.ip.as_deref()).collect(),
            mac: alerts.iter().map(|a| a.mac.as_deref()).collect(),
            segment: alerts.iter().map(|a| a.segment.as_deref()).collect(),
            agent: alerts.iter().map(|a| a.agent.as_deref()).collect(),
            summary: alerts.iter().map(|a| a.summary.as_str()).collect(),
            vendor: alerts.iter().map(|a| a.vendor.as_deref()).collect(),
            digest: alerts.iter().map(|a| a.digest.unwrap_or_else(|| crate::alerts::description_digest(a))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::PostgresStore;
    use super::*;
    use crate::alerts::{AlertState, EventKind};

    fn alert(subject: &str) -> Alert {
        let mut a: Alert = serde_json::from_value(serde_json::json!({
            "id": 0, "kind": "unknown-asset", "subject": subject, "state": "open", "severity": "medium",
            "summary": format!("unknown device {subject}"), "first_seen_ms": 1, "last_seen_ms": 2, "opened_ms": 2,
            "updated_ms": 2, "updates": 0, "reopened": 0, "clear_count": 0, "rev": 0
        }))
        .unwrap();
        a.ip = Some("198.18.0.7".into());
        a
    }

    fn change(a: Alert, event: Option<EventKind>, sinks: &[&str]) -> Change {
        let mut c = Change::census(a, event, !sinks.is_empty(), Some("why".into()));
        c.sinks = sinks.iter().map(|s| s.to_string()).collect();
        c.described = true;
        c
    }

    /// Every row the alert writers touch, as text, in id order.
    fn dump(tx: &mut Tx<'_>) -> Vec<String> {
        ["alerts", "alert_evidence", "alert_events", "outbox"]
            .iter()
            .flat_map(|t| {
                tx.query(&format!("SELECT row_to_json(t)::TEXT FROM {t} t ORDER BY 1"), &[])
                    .unwrap()
                    .iter()
                    .map(|r| format!("{t}: {}", r.get::<_, String>(0)))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The changes of one reconcile run written set-wise leave exactly the
    /// rows (ids, history, outbox order and bodies) and outcomes the
    /// one-by-one writer leaves, a stale update refused by both; a plan
    /// touching one subject twice is written one by one. Needs `CENSUS_TEST_POSTGRES`.
    #[test]
    fn set_wise_writes_equal_one_by_one() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let (set_wise, one_by_one) =
            (PostgresStore::open_scratch(&url).unwrap(), PostgresStore::open_scratch(&url).unwrap());
        let run = |store: &PostgresStore, batched: bool| {
            store
                .write(|tx| {
                    let first: Vec<Change> =
                        ["a", "b", "c"].iter().map(|s| change(alert(s), Some(EventKind::Opened), &[])).collect();
                    for c in &first {
                        alerts::write_change(tx, c, 10)?;
                    }
                    let mut stored: Vec<Alert> = Vec::new();
                    for id in 1..=3 {
                        stored.push(alerts::alert(tx, id)?.unwrap());
                    }
                    let mut seen = stored[0].clone();
                    seen.last_seen_ms = 20;
                    seen.summary = "seen again".into();
                    let mut stale = stored[1].clone();
                    stale.rev += 5;
                    stale.state = AlertState::Resolved;
                    let mut resolved = stored[2].clone();
                    resolved.state = AlertState::Resolved;
                    resolved.resolved_ms = Some(20);
                    let plan = vec![
                        change(alert("d"), Some(EventKind::Opened), &["hook", "mail"]),
                        change(seen, Some(EventKind::Acknowledged), &["hook"]),
                        change(stale, Some(EventKind::Resolved), &["hook"]),
                        change(alert("e"), None, &[]),
                        change(resolved, Some(EventKind::Resolved), &[]),
                    ];
                    // The same subject twice: written one by one by both.
                    let mut earlier = alert("f");
                    earlier.state = AlertState::Resolved;
                    let twice =
                        vec![change(earlier, None, &[]), change(alert("f"), Some(EventKind::Opened), &["hook"])];
                    let mut outcomes = Vec::new();
                    for changes in [plan, twice] {
                        let refs: Vec<&Change> = changes.iter().collect();
                        let out: Vec<Result<usize, Stale>> = if batched {
                            write_checked_all(tx, &refs, 30)?
                        } else {
                            refs.iter().map(|c| alerts::write_checked(tx, c, 30)).collect::<Result<_, _>>()?
                        };
                        outcomes
                            .push(format!("{:?}", out.iter().map(|r| r.as_ref().ok().copied()).collect::<Vec<_>>()));
                    }
                    Ok((outcomes, dump(tx)))
                })
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (a, b) = (run(&set_wise, true), run(&one_by_one, false));
        assert_eq!(a.0, b.0);
        assert_eq!(a.0[0], "[Some(2), Some(1), None, Some(0), Some(0)]");
        assert_eq!(a.1, b.1);
        assert_eq!(a.1.iter().filter(|r| r.starts_with("outbox")).count(), 4, "{:#?}", a.1);
        assert_eq!(a.0[1], "[Some(0), Some(1)]");
    }
}
