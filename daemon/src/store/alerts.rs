//! Alerts, suppression rules and the notification outbox in SQLite.
//!
//! Operator actions (acknowledge, resolve) are recorded with who and when;
//! resolving a new-service alert accepts its ports into the asset's
//! baseline so the same ports do not alert again. Every alert event is
//! queued per sink in the same transaction as the change that caused it.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::alerts::{
    Alert, AlertAction, AlertEvent, AlertFilter, AlertKind, AlertState, EventKind, Severity, Suppression,
};
use crate::reconcile::AssetState;

const COLUMNS: &str = "id, kind, subject, state, severity, tag, ip, mac, segment, agent, summary, evidence,
    first_seen_ms, last_seen_ms, opened_ms, updated_ms, updates, acked_by, acked_ms, resolved_by, resolved_ms,
    resolution, suppressed_by";

fn word<T: std::str::FromStr>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    s.parse().map_err(|_| rusqlite::Error::InvalidColumnType(i, s, rusqlite::types::Type::Text))
}

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let evidence: String = r.get(11)?;
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
        evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
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
    })
}

/// One alert.
pub fn alert(c: &Connection, id: i64) -> Result<Option<Alert>, StoreError> {
    Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?
        .query_row([id], alert_row)
        .optional()?)
}

/// Alerts matching `f`, newest first.
pub fn list(c: &Connection, f: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    match f.state {
        Some(s) => {
            args.push(s.as_str().into());
            sql.push_str(&format!(" AND state = ?{}", args.len()));
        }
        None => sql.push_str(" AND state != 'resolved'"),
    }
    if let Some(k) = f.kind {
        args.push(k.as_str().into());
        sql.push_str(&format!(" AND kind = ?{}", args.len()));
    }
    if let Some(t) = &f.tag {
        args.push(t.clone());
        sql.push_str(&format!(" AND tag = ?{}", args.len()));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", f.limit.unwrap_or(1000).min(100_000)));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), alert_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Live alerts about an asset, an address or a device key.
pub fn live_about(c: &Connection, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    if let Some(tag) = tag {
        let mut st =
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE tag = ?1 AND state != 'resolved'"))?;
        out.extend(st.query_map([tag], alert_row)?.collect::<Result<Vec<_>, _>>()?);
    }
    let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE ip = ?1 AND state != 'resolved'"))?;
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

/// Acknowledge or resolve an alert; `None` when there is no such alert.
pub fn act(
    tx: &Transaction<'_>,
    id: i64,
    action: AlertAction,
    actor: &str,
    note: Option<&str>,
    routes: &[(String, Severity)],
    now: i64,
) -> Result<Option<Alert>, StoreError> {
    let Some(a) = alert(tx, id)? else { return Ok(None) };
    if a.state == AlertState::Resolved {
        return Err(StoreError::Conflict(format!("alert {id} is already resolved; a resolved alert")));
    }
    match action {
        AlertAction::Acknowledge => {
            tx.execute(
                "UPDATE alerts SET state = CASE WHEN state = 'suppressed' THEN state ELSE 'acknowledged' END,
                   acked_by = ?2, acked_ms = ?3, updated_ms = ?3 WHERE id = ?1",
                params![id, actor, now],
            )?;
        }
        AlertAction::Resolve => {
            let why = note.map_or_else(|| format!("resolved by {actor}"), |n| format!("resolved by {actor}: {n}"));
            tx.execute(
                "UPDATE alerts SET state = 'resolved', resolved_by = ?2, resolved_ms = ?3, resolution = ?4, updated_ms = ?3
                 WHERE id = ?1",
                params![id, actor, now, why],
            )?;
            if a.kind == AlertKind::NewService
                && let Some(tag) = &a.tag
            {
                accept_ports(tx, tag, &a.evidence)?;
            }
            queue_event(tx, id, EventKind::Resolved, a.severity, routes, now)?;
        }
    }
    alert(tx, id)
}

fn accept_ports(tx: &Transaction<'_>, tag: &str, evidence: &serde_json::Value) -> Result<(), StoreError> {
    let mut state: AssetState = super::reconcile::asset_state(tx, tag)?.unwrap_or_default();
    let new = evidence["new_ports"].as_array().into_iter().flatten().filter_map(|p| p.as_u64()).map(|p| p as u16);
    let base = state.baseline.get_or_insert_with(Vec::new);
    base.extend(new);
    base.sort_unstable();
    base.dedup();
    tx.execute(
        "INSERT INTO asset_state (tag, body) VALUES (?1, ?2) ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
        params![tag, serde_json::to_string(&state).unwrap_or_default()],
    )?;
    Ok(())
}

/// Queue an event about alert `id` for every sink whose threshold it meets; returns rows written.
pub fn queue_event(
    tx: &Transaction<'_>,
    id: i64,
    event: EventKind,
    severity: Severity,
    routes: &[(String, Severity)],
    now: i64,
) -> Result<usize, StoreError> {
    let targets: Vec<&String> = routes.iter().filter(|(_, min)| severity >= *min).map(|(n, _)| n).collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let Some(alert) = alert(tx, id)? else { return Ok(0) };
    let body = serde_json::to_string(&AlertEvent { event, at_ms: now, alert }).unwrap_or_default();
    let mut ins = tx.prepare_cached("INSERT INTO outbox (sink, event, created_ms, next_ms) VALUES (?1, ?2, ?3, ?3)")?;
    for sink in &targets {
        ins.execute(params![sink, body, now])?;
    }
    Ok(targets.len())
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
        if let Ok(mut s) = serde_json::from_str::<Suppression>(&body) {
            s.id = id;
            out.push(s);
        }
    }
    Ok(out)
}

/// Store a rule; returns it with its id.
pub fn add_suppression(c: &Connection, s: &Suppression) -> Result<Suppression, StoreError> {
    c.execute(
        "INSERT INTO suppressions (body, expires_ms) VALUES (?1, ?2)",
        params![serde_json::to_string(s).unwrap_or_default(), s.expires_ms],
    )?;
    Ok(Suppression { id: c.last_insert_rowid(), ..s.clone() })
}

/// Remove a rule; false when absent.
pub fn remove_suppression(c: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM suppressions WHERE id = ?1", [id])? > 0)
}

/// An undelivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// The event, JSON.
    pub event: String,
}

/// Events due for `sink`, oldest first; stops at the first one not yet due (order is kept).
pub fn outbox_due(c: &Connection, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, attempts, event, next_ms FROM outbox WHERE sink = ?1 AND delivered_ms IS NULL ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![sink, limit as i64], |r| {
        Ok((OutboxItem { id: r.get(0)?, attempts: r.get(1)?, event: r.get(2)? }, r.get::<_, i64>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (item, next) = row?;
        if next > now {
            break;
        }
        out.push(item);
    }
    Ok(out)
}

/// Mark delivered, and forget deliveries older than a week.
pub fn outbox_delivered(c: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    c.execute("UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1 WHERE id = ?1", params![id, now])?;
    c.execute("DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < ?1", [now - 7 * 86_400_000])?;
    Ok(())
}

/// Record a failed attempt and when to retry.
pub fn outbox_failed(c: &Connection, id: i64, attempts: u32, retry_at: i64, error: &str) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
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
