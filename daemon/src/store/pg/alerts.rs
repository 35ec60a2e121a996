//! PostgreSQL: alerts, their history, suppressions and the notification outbox.
//!
//! The same statements and decisions as `store/sqlite/alerts.rs` (the
//! backend-neutral parts are in `store/shared/alerts.rs`): what happens to
//! an alert is decided by [`crate::alerts::lifecycle`]; this module loads
//! what it needs and writes what it decided — the alert row, a history entry
//! per event and one outbox row per sink — in the caller's transaction.
//! Writes run under the store's write lock, so reading an alert and writing
//! its change is never interleaved with another writer's.
//!
//! Order: lists by id; a tag's or address's live alerts in the order
//! SQLite's `(tag, state)` / `(ip, state)` index gives them (state by bytes,
//! then id); counts and the backlog by bytes of their words.

use std::collections::HashMap;

use postgres::types::ToSql;

use super::{PostgresStore, Tx, audit};
use crate::alerts::lifecycle::{Change, Refused};
use crate::alerts::{Alert, AlertFilter, AlertHistoryEntry, Suppression};
use crate::register::Asset;
use crate::store::shared::alerts::{self as shared, Arg, COLUMNS, Dialect, FROM};
use crate::store::{AlertCount, AlertStore, AuditOf, RegisterChange, StoreError, now_ms};

/// A word column (kind, state, severity) read back.
fn word<T: std::str::FromStr>(r: &postgres::Row, i: usize) -> Result<T, StoreError> {
    let s: String = r.try_get(i)?;
    s.parse().map_err(|_| StoreError::Db(format!("alerts column {i}: unknown value `{s}`")))
}

pub(super) fn alert_row(r: &postgres::Row) -> Result<Alert, StoreError> {
    let evidence: Option<String> = r.try_get(11)?;
    Ok(Alert {
        id: r.try_get(0)?,
        kind: word(r, 1)?,
        subject: r.try_get(2)?,
        state: word(r, 3)?,
        severity: word(r, 4)?,
        tag: r.try_get(5)?,
        ip: r.try_get(6)?,
        mac: r.try_get(7)?,
        segment: r.try_get(8)?,
        agent: r.try_get(9)?,
        summary: r.try_get(10)?,
        evidence: evidence.as_deref().and_then(shared::stored_evidence),
        first_seen_ms: r.try_get(12)?,
        last_seen_ms: r.try_get(13)?,
        opened_ms: r.try_get(14)?,
        updated_ms: r.try_get(15)?,
        updates: r.try_get(16)?,
        acked_by: r.try_get(17)?,
        acked_ms: r.try_get(18)?,
        resolved_by: r.try_get(19)?,
        resolved_ms: r.try_get(20)?,
        resolution: r.try_get(21)?,
        suppressed_by: r.try_get(22)?,
        reopened: r.try_get(23)?,
        absent_since_ms: r.try_get(24)?,
        clear_count: r.try_get(25)?,
        clear_batch: r.try_get(26)?,
        vendor: r.try_get(27)?,
        digest: r.try_get(28)?,
        rev: r.try_get(29)?,
    })
}

fn alert_rows(rows: &[postgres::Row]) -> Result<Vec<Alert>, StoreError> {
    rows.iter().map(alert_row).collect()
}

/// A filter's arguments as statement parameters.
fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Text(t) => t as &(dyn ToSql + Sync),
            Arg::Int(i) => i as &(dyn ToSql + Sync),
        })
        .collect()
}

/// One alert.
///
/// # Errors
/// The store failed.
pub fn alert(tx: &mut Tx<'_>, id: i64) -> Result<Option<Alert>, StoreError> {
    tx.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = $1"), &[&id])?.as_ref().map(alert_row).transpose()
}

/// The alerts `f` selects, newest first.
///
/// # Errors
/// The store failed.
pub fn list(tx: &mut Tx<'_>, f: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let (sql, args) = shared::list_sql(f, Dialect::Postgres);
    alert_rows(&tx.query(&sql, &params(&args))?)
}

/// How many alerts `f` selects (its cursor and limit ignored).
fn count(tx: &mut Tx<'_>, f: &AlertFilter) -> Result<u64, StoreError> {
    let (sql, args) = shared::count_sql(f, Dialect::Postgres);
    Ok(shared::count(tx.query_one(&sql, &params(&args))?.try_get(0)?))
}

/// Live alerts counted by kind, state and severity.
fn counts(tx: &mut Tx<'_>) -> Result<Vec<AlertCount>, StoreError> {
    let rows = tx.query(
        "SELECT kind, state, severity, count(*) FROM alerts WHERE state != 'resolved'
         GROUP BY kind, state, severity ORDER BY kind COLLATE \"C\", state COLLATE \"C\", severity COLLATE \"C\"",
        &[],
    )?;
    rows.iter()
        .map(|r| Ok(AlertCount { kind: word(r, 0)?, state: word(r, 1)?, severity: word(r, 2)?, count: r.try_get(3)? }))
        .collect()
}

/// Live alerts about the asset `tag` or any of the addresses `ips`: the
/// tag's first, then each address's not listed yet.
///
/// # Errors
/// The store failed.
pub fn live_about(tx: &mut Tx<'_>, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError> {
    use postgres::types::Type;
    if tag.is_none() && ips.is_empty() {
        return Ok(Vec::new());
    }
    // One prepared statement for both (whois calls this; see `whois.rs`);
    // the order SQLite answers in is restored below.
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE (a.tag = $1 OR a.ip = ANY($2)) AND a.state != 'resolved'
         ORDER BY a.state COLLATE \"C\", a.id"
    );
    let all = alert_rows(&tx.query_prepared(&sql, &[(&tag, Type::TEXT), (&ips, Type::TEXT_ARRAY)])?)?;
    // The asset's alerts first, then address by address in the order given
    // (the sorts are stable).
    let (mut out, mut about_ips): (Vec<Alert>, Vec<Alert>) =
        all.into_iter().partition(|a| tag.is_some() && a.tag.as_deref() == tag);
    about_ips.sort_by_key(|a| ips.iter().position(|ip| a.ip.as_deref() == Some(ip.as_str())));
    out.extend(about_ips);
    Ok(out)
}

/// The latest alert of every (kind, subject) among `subjects` (live, or the
/// most recently resolved) — without its evidence, which the lifecycle
/// never reads (a change that keeps the description does not write it).
///
/// # Errors
/// The store failed.
pub fn latest_for_subjects(tx: &mut Tx<'_>, subjects: &[String]) -> Result<Vec<Alert>, StoreError> {
    let mut latest = HashMap::new();
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let light = COLUMNS.replace("e.evidence,", "NULL::TEXT,");
    for r in tx.query(&format!("SELECT {light} FROM alerts a WHERE a.subject = ANY($1)"), &[&subjects])? {
        shared::keep_latest(&mut latest, alert_row(&r)?);
    }
    Ok(latest.into_values().collect())
}

/// Device-level alerts (unknown devices, address conflicts) each agent
/// raised since `since` (the condition of the partial index `alerts_device_opened`).
///
/// # Errors
/// The store failed.
pub fn device_alerts_opened_since(
    tx: &mut Tx<'_>,
    agents: &[String],
    since: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out = HashMap::new();
    if agents.is_empty() {
        return Ok(out);
    }
    let st = tx.prepare(
        "SELECT count(*) FROM alerts WHERE agent = $1 AND opened_ms >= $2
         AND (kind = 'unknown-asset' OR (kind = 'identity-conflict' AND tag IS NULL))",
    )?;
    for a in agents {
        let n: i64 = tx.query_one(&st, &[a, &since])?.try_get(0)?;
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
/// The store failed; [`StoreError::Refused`] for a change made from a
/// revision that is no longer the stored one.
pub fn write_change(tx: &mut Tx<'_>, c: &Change, now: i64) -> Result<usize, StoreError> {
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
pub fn write_checked(tx: &mut Tx<'_>, c: &Change, now: i64) -> Result<Result<usize, Stale>, StoreError> {
    let a = &c.alert;
    let id = if a.id == 0 {
        let evidence = shared::evidence_text(a);
        let digest = a.digest.unwrap_or_else(|| crate::alerts::description_digest(a));
        let row = tx.query_one(
            "INSERT INTO alerts (kind, subject, state, severity, tag, ip, mac, segment, agent, summary, evidence,
               first_seen_ms, last_seen_ms, opened_ms, updated_ms, updates, acked_by, acked_ms, resolved_by,
               resolved_ms, resolution, suppressed_by, reopened, absent_since_ms, clear_count, clear_batch, vendor,
               digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
               $21, $22, $23, $24, $25, $26, $27)
             RETURNING id",
            &[
                &a.kind.as_str(),
                &a.subject,
                &a.state.as_str(),
                &a.severity.as_str(),
                &a.tag,
                &a.ip,
                &a.mac,
                &a.segment,
                &a.agent,
                &a.summary,
                &a.first_seen_ms,
                &a.last_seen_ms,
                &a.opened_ms,
                &a.updated_ms,
                &a.updates,
                &a.acked_by,
                &a.acked_ms,
                &a.resolved_by,
                &a.resolved_ms,
                &a.resolution,
                &a.suppressed_by,
                &a.reopened,
                &a.absent_since_ms,
                &a.clear_count,
                &a.clear_batch,
                &a.vendor,
                &digest,
            ],
        )?;
        let id: i64 = row.try_get(0)?;
        tx.execute("INSERT INTO alert_evidence (alert_id, evidence) VALUES ($1, $2)", &[&id, &evidence])?;
        id
    } else {
        let n = tx.execute(
            "UPDATE alerts SET state = $2, first_seen_ms = $3, last_seen_ms = $4, updated_ms = $5, updates = $6,
               acked_by = $7, acked_ms = $8, resolved_by = $9, resolved_ms = $10, resolution = $11,
               suppressed_by = $12, reopened = $13, absent_since_ms = $14, clear_count = $15, clear_batch = $16,
               rev = rev + 1
             WHERE id = $1 AND rev = $17",
            &[
                &a.id,
                &a.state.as_str(),
                &a.first_seen_ms,
                &a.last_seen_ms,
                &a.updated_ms,
                &a.updates,
                &a.acked_by,
                &a.acked_ms,
                &a.resolved_by,
                &a.resolved_ms,
                &a.resolution,
                &a.suppressed_by,
                &a.reopened,
                &a.absent_since_ms,
                &a.clear_count,
                &a.clear_batch,
                &a.rev,
            ],
        )?;
        if n == 0 {
            return Ok(Err(Stale));
        }
        if c.described {
            // The lifecycle writes a description only when its digest differs from the stored one.
            let evidence = shared::evidence_text(a);
            let digest = a.digest.unwrap_or_else(|| crate::alerts::description_digest(a));
            tx.execute(
                "UPDATE alerts SET severity = $2, tag = $3, ip = $4, mac = $5, segment = $6, agent = $7,
                   summary = $8, vendor = $9, digest = $10 WHERE id = $1",
                &[
                    &a.id,
                    &a.severity.as_str(),
                    &a.tag,
                    &a.ip,
                    &a.mac,
                    &a.segment,
                    &a.agent,
                    &a.summary,
                    &a.vendor,
                    &digest,
                ],
            )?;
            tx.execute(
                "INSERT INTO alert_evidence (alert_id, evidence) VALUES ($1, $2)
                 ON CONFLICT (alert_id) DO UPDATE SET evidence = excluded.evidence",
                &[&a.id, &evidence],
            )?;
        }
        a.id
    };
    if !c.accept_ports.is_empty()
        && let Some(tag) = &a.tag
    {
        accept_ports(tx, tag, &c.accept_ports)?;
    }
    let Some(event) = c.event else { return Ok(Ok(0)) };
    tx.execute(
        "INSERT INTO alert_events (alert_id, at_ms, actor, event, note) VALUES ($1, $2, $3, $4, $5)",
        &[&id, &now, &c.actor, &event.as_str(), &c.note],
    )?;
    if c.sinks.is_empty() {
        return Ok(Ok(0));
    }
    // The event carries the alert as stored now, its full evidence included.
    let Some(alert) = alert(tx, id)? else { return Ok(Ok(0)) };
    let body = shared::event_body(event, now, alert);
    // One row per sink, numbered in the order of the sinks.
    tx.execute(
        "INSERT INTO outbox (sink, event, created_ms, next_ms)
         SELECT s.sink, $2::TEXT, $3::BIGINT, $3::BIGINT FROM unnest($1::TEXT[]) WITH ORDINALITY AS s(sink, n)
         ORDER BY s.n",
        &[&c.sinks, &body, &now],
    )?;
    Ok(Ok(c.sinks.len()))
}

/// Accept `ports` into the baseline of asset `tag`.
fn accept_ports(tx: &mut Tx<'_>, tag: &str, ports: &[u16]) -> Result<(), StoreError> {
    let stored = tx.query_opt("SELECT body FROM asset_state WHERE tag = $1", &[&tag])?;
    let state = match stored {
        Some(r) => shared::stored_asset_state(&r.try_get::<_, String>(0)?),
        None => None,
    };
    let body = shared::with_accepted(state, ports);
    tx.execute(
        "INSERT INTO asset_state (tag, body) VALUES ($1, $2) ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
        &[&tag, &body],
    )?;
    Ok(())
}

/// Apply a person's action to alert `id`: `decide` turns the stored alert
/// into the change to write. `None` when there is no such alert.
fn act(
    tx: &mut Tx<'_>,
    id: i64,
    decide: &mut dyn FnMut(Alert) -> Result<Change, Refused>,
    now: i64,
) -> Result<Option<Alert>, StoreError> {
    let Some(a) = alert(tx, id)? else { return Ok(None) };
    let change = decide(a).map_err(shared::refused)?;
    write_change(tx, &change, now)?;
    alert(tx, id)
}

/// An alert's history, oldest first.
fn history(tx: &mut Tx<'_>, id: i64) -> Result<Vec<AlertHistoryEntry>, StoreError> {
    let rows =
        tx.query("SELECT at_ms, actor, event, note FROM alert_events WHERE alert_id = $1 ORDER BY id", &[&id])?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(shared::history_entry(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    Ok(out)
}

/// Suppression rules live at `now` (the reconciler's).
///
/// # Errors
/// The store failed.
pub fn active_suppressions(tx: &mut Tx<'_>, now: i64) -> Result<Vec<Suppression>, StoreError> {
    suppressions(tx, Some(now))
}

/// Suppression rules, all or only those live at `live_at`; a body that does not parse is left out.
fn suppressions(tx: &mut Tx<'_>, live_at: Option<i64>) -> Result<Vec<Suppression>, StoreError> {
    let rows = tx.query(
        "SELECT id, body FROM suppressions WHERE expires_ms > $1 ORDER BY id",
        &[&live_at.unwrap_or(i64::MIN)],
    )?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(shared::stored_suppression(r.try_get(0)?, &r.try_get::<_, String>(1)?));
    }
    Ok(out)
}

impl AlertStore for PostgresStore {
    fn alert_counts(&self) -> Result<Vec<AlertCount>, StoreError> {
        self.read(counts)
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        self.read(|tx| list(tx, filter))
    }

    fn alert_count(&self, filter: &AlertFilter) -> Result<u64, StoreError> {
        self.read(|tx| count(tx, filter))
    }

    fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        self.read(|tx| alert(tx, id))
    }

    fn alert_action(
        &self,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(|tx| {
            let before = alert(tx, id)?;
            let out = act(tx, id, decide, now_ms())?;
            if let Some(after) = &out {
                audit::append(tx, &audit(before.as_ref(), Some(after)))?;
            }
            Ok(out)
        })
    }

    fn asset_with_alert_action(
        &self,
        change: RegisterChange<'_>,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<(Asset, Option<Alert>), StoreError> {
        let RegisterChange { asset, create, actor, audit: asset_audit } = change;
        self.write(|tx| {
            let stored = if create {
                let stored = super::assets::create(tx, asset, actor, "create")?;
                audit::append(tx, &asset_audit(None, Some(&stored)))?;
                stored
            } else {
                let old = super::assets::one(tx, &asset.tag)?
                    .ok_or_else(|| StoreError::NotFound(format!("asset `{}`", asset.tag)))?;
                let stored = super::assets::update(tx, &old, asset, actor, "update")?;
                audit::append(tx, &asset_audit(Some(&old), Some(&stored)))?;
                stored
            };
            let before = alert(tx, id)?;
            // A refusal is decided before anything of the alert is written:
            // the register change commits alone.
            let after = match act(tx, id, decide, now_ms()) {
                Ok(a) => a,
                Err(StoreError::Refused(_)) => None,
                Err(e) => return Err(e),
            };
            if let Some(a) = &after {
                audit::append(tx, &audit(before.as_ref(), Some(a)))?;
            }
            Ok((stored, after))
        })
    }

    fn alert_history(&self, id: i64) -> Result<Vec<AlertHistoryEntry>, StoreError> {
        self.read(|tx| history(tx, id))
    }

    fn suppressions(&self, live_only: bool) -> Result<Vec<Suppression>, StoreError> {
        self.read(|tx| suppressions(tx, live_only.then(now_ms)))
    }

    fn add_suppression(&self, rule: &Suppression, audit: AuditOf<'_, Suppression>) -> Result<Suppression, StoreError> {
        self.write(|tx| {
            let row = tx.query_one(
                "INSERT INTO suppressions (body, expires_ms) VALUES ($1, $2) RETURNING id",
                &[&shared::suppression_body(rule), &rule.expires_ms],
            )?;
            let stored = Suppression { id: row.try_get(0)?, ..rule.clone() };
            audit::append(tx, &audit(None, Some(&stored)))?;
            Ok(stored)
        })
    }

    fn remove_suppression(&self, id: i64, audit: AuditOf<'_, Suppression>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let before = suppressions(tx, None)?.into_iter().find(|r| r.id == id);
            let removed = tx.execute("DELETE FROM suppressions WHERE id = $1", &[&id])? > 0;
            if removed {
                audit::append(tx, &audit(before.as_ref(), None))?;
            }
            Ok(removed)
        })
    }
}
