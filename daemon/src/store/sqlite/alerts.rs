//! Alerts, their history, suppression rules and the notification outbox in
//! SQLite. What happens to an alert is decided by
//! [`crate::alerts::lifecycle`]; this module loads what it needs and writes
//! what it decided — the alert row, a history entry per event, and one
//! outbox row per sink in the same transaction as the change.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use std::collections::HashMap;

use crate::alerts::lifecycle::Change;
use crate::alerts::{Alert, AlertFilter, AlertHistoryEntry, Suppression};
use crate::store::shared::alerts::{self as shared, Arg, COLUMNS, Dialect, FROM};
use crate::store::{OutboxItem, StoreError};

fn word<T: std::str::FromStr>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    s.parse().map_err(|_| rusqlite::Error::InvalidColumnType(i, s, rusqlite::types::Type::Text))
}

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let evidence: Option<String> = r.get(11)?;
    Ok(Alert {
        id: r.get(0)?,
        kind: word(r, 1)?,
        subject: r.get(2)?,
        state: word(r, 3)?,
        severity: word(r, 4)?,
        tag: r.get(5)?,
        ip: r.get(6)?,
        mac: r.get(7)?,
        segment: r.get(8)?,
        agent: r.get(9)?,
        summary: r.get(10)?,
        evidence: evidence.as_deref().and_then(shared::stored_evidence),
        first_seen_ms: r.get(12)?,
        last_seen_ms: r.get(13)?,
        opened_ms: r.get(14)?,
        updated_ms: r.get(15)?,
        updates: r.get(16)?,
        acked_by: r.get(17)?,
        acked_ms: r.get(18)?,
        resolved_by: r.get(19)?,
        resolved_ms: r.get(20)?,
        resolution: r.get(21)?,
        suppressed_by: r.get(22)?,
        reopened: r.get(23)?,
        absent_since_ms: r.get(24)?,
        clear_count: r.get(25)?,
        clear_batch: r.get(26)?,
        vendor: r.get(27)?,
        digest: r.get(28)?,
        rev: r.get(29)?,
    })
}

/// One alert.
pub fn alert(c: &Connection, id: i64) -> Result<Option<Alert>, StoreError> {
    Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = ?1"))?
        .query_row([id], alert_row)
        .optional()?)
}

/// A filter's arguments as SQLite values.
fn values(args: Vec<Arg>) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    args.into_iter()
        .map(|a| match a {
            Arg::Text(t) => Value::Text(t),
            Arg::Int(i) => Value::Integer(i),
        })
        .collect()
}

/// Alerts matching `f`, newest first.
pub fn list(c: &Connection, f: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let (sql, args) = shared::list_sql(f, Dialect::Sqlite);
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(values(args)), alert_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many alerts match `f` (its cursor and limit ignored).
pub fn count(c: &Connection, f: &AlertFilter) -> Result<u64, StoreError> {
    let (sql, args) = shared::count_sql(f, Dialect::Sqlite);
    let n: i64 = c.query_row(&sql, rusqlite::params_from_iter(values(args)), |r| r.get(0))?;
    Ok(shared::count(n))
}

/// Live alerts counted by kind, state and severity.
pub fn counts(c: &Connection) -> Result<Vec<crate::store::AlertCount>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT kind, state, severity, count(*) FROM alerts WHERE state != 'resolved'
         GROUP BY kind, state, severity ORDER BY kind, state, severity",
    )?;
    let rows = st.query_map([], |r| {
        Ok(crate::store::AlertCount { kind: word(r, 0)?, state: word(r, 1)?, severity: word(r, 2)?, count: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Live alerts about an asset, an address or a device key.
pub fn live_about(c: &Connection, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    if let Some(tag) = tag {
        let mut st =
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.tag = ?1 AND a.state != 'resolved'"))?;
        out.extend(st.query_map([tag], alert_row)?.collect::<Result<Vec<_>, _>>()?);
    }
    let mut st =
        c.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.ip = ?1 AND a.state != 'resolved'"))?;
    for ip in ips {
        for a in st.query_map([ip], alert_row)? {
            let a = a?;
            if !out.iter().any(|o: &Alert| o.id == a.id) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// The latest alert of every (kind, subject) among `subjects` (live, or the
/// most recently resolved) — without its evidence, which the lifecycle
/// never reads (a change that keeps the description does not write it).
pub fn latest_for_subjects(c: &Connection, subjects: &[String]) -> Result<Vec<Alert>, StoreError> {
    let light = COLUMNS.replace("e.evidence,", "NULL,");
    let mut latest: HashMap<(crate::alerts::AlertKind, String), Alert> = HashMap::new();
    for chunk in subjects.chunks(500) {
        let sql = format!("SELECT {light} FROM alerts a WHERE a.subject IN {}", super::in_list(chunk.len()));
        let mut st = c.prepare_cached(&sql)?;
        for a in st.query_map(rusqlite::params_from_iter(chunk), alert_row)? {
            shared::keep_latest(&mut latest, a?);
        }
    }
    Ok(latest.into_values().collect())
}

/// The count behind [`device_alerts_opened_since`]: answered from the
/// partial index `alerts_device_opened` alone (schema 7), whose condition
/// this repeats word for word so SQLite can use it.
pub const DEVICE_ALERTS_SINCE: &str = "SELECT count(*) FROM alerts WHERE agent = ?1 AND opened_ms >= ?2
    AND (kind = 'unknown-asset' OR (kind = 'identity-conflict' AND tag IS NULL))";

/// Device-level alerts (unknown devices, address conflicts) each agent raised since `since`.
pub fn device_alerts_opened_since(
    c: &Connection,
    agents: &[String],
    since: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out = HashMap::new();
    let mut st = c.prepare_cached(DEVICE_ALERTS_SINCE)?;
    for a in agents {
        let n: i64 = st.query_row(params![a, since], |r| r.get(0))?;
        out.insert(a.clone(), n);
    }
    Ok(out)
}

/// A change made from a revision of the alert that is no longer the stored one.
#[derive(Debug)]
pub struct Stale;

/// Write one alert change: the row (inserted when its id is 0), its
/// history entry, its outbox rows and any ports it accepts. Returns the
/// outbox rows written.
///
/// # Errors
/// The store failed.
pub fn write_change(tx: &Transaction<'_>, c: &Change, now: i64) -> Result<usize, StoreError> {
    match write_checked(tx, c, now)? {
        Ok(n) => Ok(n),
        Err(Stale) => Err(shared::changed_meanwhile(c.alert.id)),
    }
}

/// [`write_change`], refusing (with [`Stale`], writing nothing) a change
/// made from a revision of the alert that is not the stored one.
///
/// # Errors
/// The store failed.
pub fn write_checked(tx: &Transaction<'_>, c: &Change, now: i64) -> Result<Result<usize, Stale>, StoreError> {
    let a = &c.alert;
    let id = if a.id == 0 {
        let evidence = shared::evidence_text(a);
        tx.prepare_cached(
            "INSERT INTO alerts (kind, subject, state, severity, tag, ip, mac, segment, agent, summary, evidence,
               first_seen_ms, last_seen_ms, opened_ms, updated_ms, updates, acked_by, acked_ms, resolved_by,
               resolved_ms, resolution, suppressed_by, reopened, absent_since_ms, clear_count, clear_batch, vendor,
               digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
               ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
        )?
        .execute(params![
            a.kind.as_str(),
            a.subject,
            a.state.as_str(),
            a.severity.as_str(),
            a.tag,
            a.ip,
            a.mac,
            a.segment,
            a.agent,
            a.summary,
            "",
            a.first_seen_ms,
            a.last_seen_ms,
            a.opened_ms,
            a.updated_ms,
            a.updates,
            a.acked_by,
            a.acked_ms,
            a.resolved_by,
            a.resolved_ms,
            a.resolution,
            a.suppressed_by,
            a.reopened,
            a.absent_since_ms,
            a.clear_count,
            a.clear_batch,
            a.vendor,
            a.digest.unwrap_or_else(|| crate::alerts::description_digest(a)),
        ])?;
        let id = tx.last_insert_rowid();
        tx.prepare_cached("INSERT INTO alert_evidence (alert_id, evidence) VALUES (?1, ?2)")?
            .execute(params![id, evidence])?;
        id
    } else {
        let n = tx
            .prepare_cached(
                "UPDATE alerts SET state = ?2, first_seen_ms = ?3, last_seen_ms = ?4, updated_ms = ?5, updates = ?6,
               acked_by = ?7, acked_ms = ?8, resolved_by = ?9, resolved_ms = ?10, resolution = ?11,
               suppressed_by = ?12, reopened = ?13, absent_since_ms = ?14, clear_count = ?15, clear_batch = ?16,
               rev = rev + 1
             WHERE id = ?1 AND rev = ?17",
            )?
            .execute(params![
                a.id,
                a.state.as_str(),
                a.first_seen_ms,
                a.last_seen_ms,
                a.updated_ms,
                a.updates,
                a.acked_by,
                a.acked_ms,
                a.resolved_by,
                a.resolved_ms,
                a.resolution,
                a.suppressed_by,
                a.reopened,
                a.absent_since_ms,
                a.clear_count,
                a.clear_batch,
                a.rev,
            ])?;
        if n == 0 {
            return Ok(Err(Stale));
        }
        if c.described {
            // The lifecycle writes a description only when its digest differs from the stored one.
            let evidence = shared::evidence_text(a);
            let d = a.digest.unwrap_or_else(|| crate::alerts::description_digest(a));
            {
                tx.prepare_cached(
                    "UPDATE alerts SET severity = ?2, tag = ?3, ip = ?4, mac = ?5, segment = ?6, agent = ?7,
                       summary = ?8, vendor = ?9, digest = ?10 WHERE id = ?1",
                )?
                .execute(params![
                    a.id,
                    a.severity.as_str(),
                    a.tag,
                    a.ip,
                    a.mac,
                    a.segment,
                    a.agent,
                    a.summary,
                    a.vendor,
                    d,
                ])?;
                tx.prepare_cached(
                    "INSERT INTO alert_evidence (alert_id, evidence) VALUES (?1, ?2)
                     ON CONFLICT (alert_id) DO UPDATE SET evidence = excluded.evidence",
                )?
                .execute(params![a.id, evidence])?;
            }
        }
        a.id
    };
    if !c.accept_ports.is_empty()
        && let Some(tag) = &a.tag
    {
        accept_ports(tx, tag, &c.accept_ports)?;
    }
    let Some(event) = c.event else { return Ok(Ok(0)) };
    tx.prepare_cached("INSERT INTO alert_events (alert_id, at_ms, actor, event, note) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, now, c.actor, event.as_str(), c.note])?;
    if c.sinks.is_empty() {
        return Ok(Ok(0));
    }
    // The event carries the alert as stored now, its full evidence included.
    let Some(alert) = alert(tx, id)? else { return Ok(Ok(0)) };
    let body = shared::event_body(event, now, alert);
    let mut ins = tx.prepare_cached("INSERT INTO outbox (sink, event, created_ms, next_ms) VALUES (?1, ?2, ?3, ?3)")?;
    for sink in &c.sinks {
        ins.execute(params![sink, body, now])?;
    }
    Ok(Ok(c.sinks.len()))
}

fn accept_ports(tx: &Transaction<'_>, tag: &str, ports: &[u16]) -> Result<(), StoreError> {
    let body = shared::with_accepted(super::reconcile::asset_state(tx, tag)?, ports);
    tx.execute(
        "INSERT INTO asset_state (tag, body) VALUES (?1, ?2) ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
        params![tag, body],
    )?;
    Ok(())
}

/// Apply a person's action to alert `id`: `decide` turns the stored alert
/// into the change to write. `None` when there is no such alert.
pub fn act(
    tx: &Transaction<'_>,
    id: i64,
    decide: &mut dyn FnMut(Alert) -> Result<Change, crate::alerts::lifecycle::Refused>,
    now: i64,
) -> Result<Option<Alert>, StoreError> {
    let Some(a) = alert(tx, id)? else { return Ok(None) };
    let change = decide(a).map_err(shared::refused)?;
    write_change(tx, &change, now)?;
    alert(tx, id)
}

/// An alert's history, oldest first.
pub fn history(c: &Connection, id: i64) -> Result<Vec<AlertHistoryEntry>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT at_ms, actor, event, note FROM alert_events WHERE alert_id = ?1 ORDER BY id")?;
    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (at_ms, actor, event, note) = row?;
        out.extend(shared::history_entry(at_ms, actor, event, note));
    }
    Ok(out)
}

/// Suppression rules that have not expired.
pub fn active_suppressions(c: &Connection, now: i64) -> Result<Vec<Suppression>, StoreError> {
    suppressions(c, Some(now))
}

/// Suppression rules, all or only those live at `now`.
pub fn suppressions(c: &Connection, live_at: Option<i64>) -> Result<Vec<Suppression>, StoreError> {
    let mut st = c.prepare_cached("SELECT id, body FROM suppressions WHERE expires_ms > ?1 ORDER BY id")?;
    let rows = st.query_map([live_at.unwrap_or(i64::MIN)], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row?;
        out.extend(shared::stored_suppression(id, &body));
    }
    Ok(out)
}

/// Store a rule; returns it with its id.
pub fn add_suppression(c: &Connection, s: &Suppression) -> Result<Suppression, StoreError> {
    c.execute(
        "INSERT INTO suppressions (body, expires_ms) VALUES (?1, ?2)",
        params![shared::suppression_body(s), s.expires_ms],
    )?;
    Ok(Suppression { id: c.last_insert_rowid(), ..s.clone() })
}

/// Remove a rule; false when absent.
pub fn remove_suppression(c: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM suppressions WHERE id = ?1", [id])? > 0)
}

/// Events due for `sink`, oldest first; stops at the first one not yet due (order is kept).
pub fn outbox_due(c: &Connection, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, attempts, event, next_ms FROM outbox WHERE sink = ?1 AND delivered_ms IS NULL ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![sink, limit as i64], |r| {
        Ok((OutboxItem { id: r.get(0)?, attempts: r.get(1)?, event: r.get(2)? }, r.get::<_, i64>(3)?))
    })?;
    Ok(shared::due_in_order(rows, now)?)
}

/// Mark delivered, and forget deliveries older than a week.
pub fn outbox_delivered(c: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    c.execute("UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1 WHERE id = ?1", params![id, now])?;
    c.execute(
        "DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < ?1",
        [now - shared::DELIVERED_KEPT_MS],
    )?;
    Ok(())
}

/// Record a failed attempt and when to retry.
pub fn outbox_failed(c: &Connection, id: i64, attempts: u32, retry_at: i64, error: &str) -> Result<(), StoreError> {
    let error = shared::error_text(error);
    c.execute(
        "UPDATE outbox SET attempts = ?2, next_ms = ?3, last_error = ?4 WHERE id = ?1",
        params![id, attempts, retry_at, error],
    )?;
    Ok(())
}

/// Undelivered events per sink.
pub fn outbox_backlog(c: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT sink, count(*) FROM outbox WHERE delivered_ms IS NULL GROUP BY sink ORDER BY sink")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
