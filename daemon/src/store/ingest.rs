//! Storing batches, idempotent on the batch id (and the id belongs to the
//! agent that sent it first).
//!
//! A batch is stored in parts of [`CHUNK`] observations, each its own short
//! transaction, so one agent's 100,000-host batch never holds the database
//! away from another agent (the writer lock is fair, see
//! [`super::sqlite`]): [`begin`] records the batch as *receiving*, [`chunk`]
//! stores observations, [`finish`] marks it stored — with `synchronous=FULL`,
//! so everything before it is on disk — and only then does the agent get
//! its receipt. A crash or a cut connection in between leaves a receiving
//! batch that no sweep or reconcile sees; the agent resends it (it has no
//! receipt) and storing resumes where it stopped: an observation is stored
//! once per (batch, address).
//!
//! Every accepted host observation is kept as sent (the evidence), and the
//! per-address summary in `hosts` is updated: first and last seen, by which
//! agent, and — when the open ports, names, OS guess or MAC differ from what
//! was last seen — a row in `host_changes` saying what changed. Batches can
//! arrive out of order (agents spool while the daemon is away), so "last"
//! means latest by observation time, not by arrival.

use rusqlite::{Connection, OptionalExtension, params};

use super::{HostChange, HostRecord, StoreError};
pub use crate::ingest::{BatchMeta, ObservationRow, ms};

/// Observations stored per transaction.
pub const CHUNK: usize = 64;

/// Where a batch stands when its delivery begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// Stored before: acknowledge it again, store nothing.
    Duplicate,
    /// New, or a delivery that was cut off: store its observations.
    Store,
}

/// Record the batch (as receiving) unless it is known.
///
/// # Errors
/// [`StoreError::Conflict`] when another agent sent this batch id.
pub fn begin(c: &mut Connection, batch: &BatchMeta, agent: &str, accepted: usize) -> Result<Begun, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let begun = begin_in(&tx, batch, agent, accepted)?;
    tx.commit()?;
    Ok(begun)
}

/// A batch of at most [`CHUNK`] observations, stored whole in one
/// transaction (one turn at the writer, one fsync). Returns `None` for a duplicate.
///
/// # Errors
/// [`StoreError::Conflict`] when another agent sent this batch id.
pub fn whole(
    c: &mut Connection,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<Option<(usize, usize)>, StoreError> {
    c.pragma_update(None, "synchronous", "FULL")?;
    let r = (|| -> Result<Option<(usize, usize)>, StoreError> {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if begin_in(&tx, batch, agent, rows.len())? == Begun::Duplicate {
            return Ok(None);
        }
        let stored = chunk_in(&tx, batch, agent, rows)?;
        finish_in(&tx, &batch.batch_id)?;
        tx.commit()?;
        Ok(Some(stored))
    })();
    c.pragma_update(None, "synchronous", "NORMAL")?;
    r
}

fn begin_in(
    tx: &rusqlite::Transaction<'_>,
    batch: &BatchMeta,
    agent: &str,
    accepted: usize,
) -> Result<Begun, StoreError> {
    let batch_id = &batch.batch_id;
    let known: Option<(String, bool)> = tx
        .query_row("SELECT agent, receiving FROM batches WHERE batch_id = ?1", [&batch_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match known {
        Some((o, _)) if o != agent => {
            return Err(StoreError::Conflict(format!("batch id {batch_id} (sent by another agent)")));
        }
        Some((_, false)) => return Ok(Begun::Duplicate),
        Some((_, true)) => return Ok(Begun::Store),
        None => {}
    }
    tx.execute(
        "INSERT OR IGNORE INTO scopes (agent, segment, targets, excluded) VALUES (?1, ?2, ?3, ?4)",
        params![agent, batch.segment, batch.targets, batch.excluded],
    )?;
    let scope: i64 = tx.query_row(
        "SELECT id FROM scopes WHERE agent = ?1 AND segment = ?2 AND targets = ?3 AND excluded = ?4",
        params![agent, batch.segment, batch.targets, batch.excluded],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO batches (batch_id, agent, segment, started_ms, finished_ms, received_ms, complete, completeness,
           hosts, rejected, targets, excluded, scope_id, probed, clamped, interval_ms, next_due_ms, reconciled,
           receiving)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, 1)",
        params![
            batch_id,
            agent,
            batch.segment,
            batch.started_ms,
            batch.finished_ms,
            batch.received_ms,
            batch.complete,
            batch.completeness,
            accepted as i64,
            batch.total_hosts.saturating_sub(accepted) as i64,
            batch.targets,
            batch.excluded,
            scope,
            batch.probed,
            batch.clamped,
            batch.interval_ms,
            batch.next_due_ms,
        ],
    )?;
    Ok(Begun::Store)
}

/// Mark the batch stored, durably: the agent may delete its copy now.
pub fn finish(c: &mut Connection, batch_id: &str) -> Result<(), StoreError> {
    c.pragma_update(None, "synchronous", "FULL")?;
    let r = (|| -> Result<(), StoreError> {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        finish_in(&tx, batch_id)?;
        tx.commit()?;
        Ok(())
    })();
    c.pragma_update(None, "synchronous", "NORMAL")?;
    r
}

fn finish_in(tx: &rusqlite::Transaction<'_>, batch_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE batches SET receiving = 0, seq = (SELECT coalesce(max(seq), 0) + 1 FROM batches)
         WHERE batch_id = ?1 AND receiving = 1",
        [batch_id],
    )?;
    Ok(())
}

/// Store some of a batch's accepted observations; returns (stored, changed hosts).
pub fn chunk(
    c: &mut Connection,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<(usize, usize), StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = chunk_in(&tx, batch, agent, rows)?;
    tx.commit()?;
    Ok(out)
}

fn chunk_in(
    tx: &rusqlite::Transaction<'_>,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<(usize, usize), StoreError> {
    let batch_id = &batch.batch_id;
    let mut changed_hosts = 0;
    let mut stored = 0;
    {
        let mut insert_obs = tx.prepare_cached(
            "INSERT OR IGNORE INTO observations (batch_id, ip, mac, seen_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut select_host =
            tx.prepare_cached("SELECT mac, last_seen_ms, ports, names, fingerprint FROM hosts WHERE ip = ?1")?;
        let mut insert_host = tx.prepare_cached(
            "INSERT INTO hosts (ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations, ports, names, fingerprint, sighting)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
        )?;
        let mut update_latest = tx.prepare_cached(
            "UPDATE hosts SET mac = coalesce(?2, mac), last_seen_ms = ?3, last_agent = ?4, last_batch = ?5, latest_obs = ?6,
             observations = observations + 1, ports = ?7, names = ?8, fingerprint = ?9,
             first_seen_ms = min(first_seen_ms, ?10), sighting = ?11 WHERE ip = ?1",
        )?;
        let mut update_older = tx.prepare_cached(
            "UPDATE hosts SET observations = observations + 1, first_seen_ms = min(first_seen_ms, ?2) WHERE ip = ?1",
        )?;
        let mut insert_change = tx.prepare_cached(
            "INSERT INTO host_changes (ip, at_ms, batch_id, kind, old, new) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut upsert_pair = tx.prepare_cached(
            "INSERT INTO mac_ip (mac, ip, first_seen_ms, last_seen_ms, last_agent) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (mac, ip) DO UPDATE SET
               first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
               last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
               last_agent = CASE WHEN excluded.last_seen_ms >= last_seen_ms THEN excluded.last_agent ELSE last_agent END",
        )?;
        // `hosts.names` keeps the names as a JSON list; `host_names` indexes each one for whois.
        let mut clear_names = tx.prepare_cached("DELETE FROM host_names WHERE ip = ?1")?;
        let mut set_name = tx.prepare_cached("INSERT OR IGNORE INTO host_names (name, ip) VALUES (?1, ?2)")?;
        for row in rows {
            let ObservationRow {
                ip,
                mac,
                first_ms: first,
                last_ms: last,
                ports,
                names,
                fingerprint: fp,
                raw,
                sighting,
            } = row;
            let (first, last) = (*first, *last);
            let names_json = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
            let names = &names_json;
            if insert_obs.execute(params![batch_id, ip, mac, last, raw])? == 0 {
                // Stored by a delivery that was cut off before its receipt.
                continue;
            }
            stored += 1;
            let obs_id = tx.last_insert_rowid();
            let existing: Option<(Option<String>, i64, String, String, String)> = select_host
                .query_row([&ip], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            match existing {
                None => {
                    insert_host
                        .execute(params![ip, mac, first, last, agent, batch_id, obs_id, ports, names, fp, sighting])?;
                    for n in &row.names {
                        set_name.execute(params![n, ip])?;
                    }
                }
                Some((old_mac, old_last, old_ports, old_names, old_fp)) if last >= old_last => {
                    let before = crate::ingest::HostSummary {
                        mac: old_mac,
                        ports: old_ports,
                        names: old_names,
                        fingerprint: old_fp,
                    };
                    let changes = crate::ingest::host_changes(&before, row);
                    for (kind, old, new) in &changes {
                        insert_change.execute(params![ip, last, batch_id, kind, old, new])?;
                    }
                    changed_hosts += usize::from(!changes.is_empty());
                    update_latest
                        .execute(params![ip, mac, last, agent, batch_id, obs_id, ports, names, fp, first, sighting])?;
                    // Only what changed is rewritten: a host seen the same way every sweep costs two writes.
                    if changes.iter().any(|(kind, _, _)| *kind == "names") {
                        clear_names.execute([ip])?;
                        for n in &row.names {
                            set_name.execute(params![n, ip])?;
                        }
                    }
                    if let Some(m) = mac.as_ref().filter(|m| before.mac.as_deref() != Some(m.as_str())) {
                        upsert_pair.execute(params![m, ip, first, last, agent])?;
                    }
                    continue;
                }
                Some(_) => {
                    update_older.execute(params![ip, first])?;
                }
            }
            if let Some(m) = mac {
                upsert_pair.execute(params![m, ip, first, last, agent])?;
            }
        }
    }
    Ok((stored, changed_hosts))
}

/// What is known about one address, with its latest observation and changes.
pub fn host(c: &Connection, ip: &str) -> Result<Option<HostRecord>, StoreError> {
    let row: Option<(Option<String>, i64, i64, String, i64, i64)> = c
        .query_row(
            "SELECT mac, first_seen_ms, last_seen_ms, last_agent, latest_obs, observations FROM hosts WHERE ip = ?1",
            [ip],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((mac, first, last, agent, latest, count)) = row else { return Ok(None) };
    let body: String = c.query_row("SELECT body FROM observations WHERE id = ?1", [latest], |r| r.get(0))?;
    let mut st = c.prepare_cached(
        "SELECT at_ms, batch_id, kind, old, new FROM host_changes WHERE ip = ?1 ORDER BY id DESC LIMIT 100",
    )?;
    let changes = st
        .query_map([ip], |r| {
            Ok(HostChange { at_ms: r.get(0)?, batch_id: r.get(1)?, kind: r.get(2)?, old: r.get(3)?, new: r.get(4)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(HostRecord {
        ip: ip.to_string(),
        mac,
        first_seen_ms: first,
        last_seen_ms: last,
        last_agent: agent,
        observations: count,
        latest: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        changes,
    }))
}

/// Batches stored but not yet reconciled (after a crash, or still queued),
/// oldest first, with their observations rebuilt into sightings.
pub fn pending(
    c: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, crate::reconcile::PendingBatch)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT batch_id, agent, segment, probed, completeness, started_ms, finished_ms, seq FROM batches
         WHERE reconciled = 0 AND receiving = 0 AND seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    type Head = (String, String, String, Option<String>, String, i64, i64, i64);
    let heads: Vec<Head> = st
        .query_map(params![after, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut obs = c.prepare_cached("SELECT body FROM observations WHERE batch_id = ?1 ORDER BY id")?;
    let mut out = Vec::with_capacity(heads.len());
    for (batch, agent, segment, probed, completeness, started, finished, seq) in heads {
        let enriched = serde_json::from_str::<serde_json::Value>(&completeness)
            .ok()
            .and_then(|v| v["enriched"].as_bool())
            .unwrap_or(false);
        let ctx =
            crate::reconcile::BatchContext { segment, agent: agent.clone(), batch: batch.clone(), probed, enriched };
        let bodies: Vec<String> = obs.query_map([&batch], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let sightings = bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<census_proto::HostObservation>(b).ok())
            .map(|mut h| {
                // The stored batch times are already bounded by arrival; keep the host's inside them.
                let clamp = |t: time::OffsetDateTime| {
                    let ms = ms(t).clamp(started, finished);
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(t)
                };
                h.ip = h.ip.to_canonical();
                h.first_seen = clamp(h.first_seen);
                h.last_seen = clamp(h.last_seen);
                crate::reconcile::Sighting::of(&h, &ctx)
            })
            .collect();
        out.push((seq, crate::reconcile::PendingBatch { batch_id: batch, agent, sightings, more: false }));
    }
    Ok(out)
}
