//! Reconciliation's reads (sightings, device debounce state, asset state,
//! sweep history, the register index inputs) and its one write: a plan
//! committed in a single transaction — matches, state, learned
//! certificates, and the alert changes with their outbox events.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::in_list;
use crate::alerts::AlertKind;
use crate::alerts::lifecycle::Change;
use crate::reconcile::{AssetState, DeviceRecord, Identity, Plan, Sighting, SweepRow};
use crate::store::shared::reconcile as shared;
use crate::store::{CommitOutcome, SightingSelect, StoreError};

/// Up to `limit` stored assets after tag `after` (`""`: from the first), by tag.
pub fn register_rows(c: &Connection, after: &str, limit: usize) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut st = c.prepare_cached("SELECT tag, body, created_ms FROM assets WHERE tag > ?1 ORDER BY tag LIMIT ?2")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Certificates tied to assets by earlier strong matches.
pub fn learned(c: &Connection) -> Result<crate::store::LearnedCerts, StoreError> {
    let mut st = c.prepare_cached("SELECT value, tag FROM learned_keys")?;
    let learned = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<HashMap<_, _>, _>>()?;
    Ok(learned)
}

/// Retired assets that record certificates or had one learned: the text
/// test skips decoding the rest (`certificates` is written only when not empty).
pub fn retired_credential_holders(c: &Connection) -> Result<Vec<crate::register::Asset>, StoreError> {
    retired_where(c, "AND (instr(body, '\"certificates\"') > 0 OR tag IN (SELECT tag FROM learned_keys))")
}

/// Every retired asset.
pub fn retired_assets(c: &Connection) -> Result<Vec<crate::register::Asset>, StoreError> {
    retired_where(c, "")
}

/// The retired assets' query (the `assets_retired` partial index answers
/// its first condition, written exactly as the index's).
pub fn retired_sql(and: &str) -> String {
    format!("SELECT tag, body FROM assets WHERE lifecycle IN ('decommissioned', 'disposed') {and} ORDER BY tag")
}

fn retired_where(c: &Connection, and: &str) -> Result<Vec<crate::register::Asset>, StoreError> {
    let mut st = c.prepare_cached(&retired_sql(and))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(shared::retired(rows.collect::<Result<_, _>>()?))
}

/// Latest sightings, with the asset each host was last matched to (the
/// probed ports are kept once per batch and joined back here).
pub fn sightings(c: &Connection, sel: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError> {
    type Row = shared::SightingRow;
    let decode = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    const FROM: &str = "SELECT h.sighting, m.tag, b.probed FROM hosts h LEFT JOIN host_matches m ON m.ip = h.ip
        LEFT JOIN batches b ON b.batch_id = h.last_batch";
    let rows: Vec<Row> = match sel {
        SightingSelect::Since(t) => c
            .prepare_cached(&format!("{FROM} WHERE h.last_seen_ms >= ?1"))?
            .query_map([t], decode)?
            .collect::<Result<_, _>>()?,
        SightingSelect::Ips(v) | SightingSelect::Tags(v) => {
            let col = if matches!(sel, SightingSelect::Ips(_)) { "h.ip" } else { "m.tag" };
            let mut out = Vec::new();
            for chunk in v.chunks(500) {
                let sql = format!("{FROM} WHERE {col} IN {}", in_list(chunk.len()));
                let mut st = c.prepare(&sql)?;
                out.extend(st.query_map(rusqlite::params_from_iter(chunk), decode)?.collect::<Result<Vec<Row>, _>>()?);
            }
            out
        }
    };
    Ok(shared::sightings(rows))
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

/// Kinds and subjects of live (not resolved) alerts.
pub fn live_subjects(c: &Connection) -> Result<Vec<(AlertKind, String)>, StoreError> {
    let mut st = c.prepare_cached("SELECT DISTINCT kind, subject FROM alerts WHERE state != 'resolved'")?;
    let rows: Vec<(String, String)> = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok(shared::kinds(rows))
}

/// Kinds and subjects that have or had an alert, of `kinds`.
pub fn alerted_subjects(
    c: &Connection,
    kinds: &[AlertKind],
    after_id: i64,
) -> Result<(Vec<(AlertKind, String)>, i64), StoreError> {
    let mut st = c.prepare_cached("SELECT kind, subject, max(id) FROM alerts WHERE id > ?1 GROUP BY kind, subject")?;
    let rows = st
        .query_map([after_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::store::shared::reconcile::alerted(kinds, rows, after_id))
}

/// Sweeps that arrived after sequence `seq` and finished after `horizon`
/// — plus, whatever their age, each scope's latest delivery and latest
/// [`KEEP_RUNS`](crate::reconcile::sweeps::KEEP_RUNS) complete sweeps, so an
/// agent away longer than the horizon keeps its cadence — and the latest
/// sequence of any batch.
pub fn sweeps_after(c: &Connection, seq: i64, horizon: i64) -> Result<(Vec<SweepRow>, i64), StoreError> {
    let mut st = c.prepare_cached(
        "SELECT b.seq, b.scope_id, b.agent, b.segment, b.targets, b.excluded, b.started_ms, b.finished_ms,
                b.interval_ms, b.next_due_ms, b.complete
         FROM batches b WHERE b.seq > ?1 AND b.receiving = 0 AND (b.finished_ms >= ?2 OR b.seq IN (
             SELECT seq FROM (
                 SELECT seq, row_number() OVER (PARTITION BY scope_id, complete ORDER BY finished_ms DESC) AS n
                 FROM batches WHERE seq > ?1 AND finished_ms < ?2 AND receiving = 0
             ) WHERE n <= ?3))
         ORDER BY b.seq",
    )?;
    let mut max_seq: i64 = seq;
    let keep = crate::reconcile::sweeps::KEEP_RUNS as i64;
    let rows = st.query_map([seq, horizon, keep], |r| {
        let targets: String = r.get(4)?;
        let excluded: String = r.get(5)?;
        Ok(SweepRow {
            seq: r.get(0)?,
            scope: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
            agent: r.get(2)?,
            segment: r.get(3)?,
            targets: shared::networks(&targets),
            excluded: shared::networks(&excluded),
            started_ms: r.get(6)?,
            finished_ms: r.get(7)?,
            interval_ms: r.get(8)?,
            next_due_ms: r.get(9)?,
            complete: r.get(10)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        max_seq = max_seq.max(row.seq);
        out.push(row);
    }
    // Batches past the horizon (or partial) still advance the sequence, so they are not read again.
    let latest: i64 = c.query_row("SELECT coalesce(max(seq), 0) FROM batches", [], |r| r.get(0))?;
    Ok((out, latest.max(max_seq)))
}

/// What the alert lifecycle reads for a plan: the latest alert of each
/// subject involved (of `only` when given), the live suppression rules and
/// the agents' hourly counts.
pub fn alert_inputs(
    c: &Connection,
    plan: &Plan,
    only: Option<&[String]>,
) -> Result<crate::store::AlertInputs, StoreError> {
    let subjects = match only {
        Some(s) => s.to_vec(),
        None => plan.subjects(),
    };
    let agents = shared::plan_agents(plan);
    Ok(crate::store::AlertInputs {
        existing: super::alerts::latest_for_subjects(c, &subjects)?,
        suppressions: super::alerts::active_suppressions(c, plan.now_ms)?,
        opened_last_hour: super::alerts::device_alerts_opened_since(c, &agents, plan.now_ms - 3_600_000)?,
    })
}

/// Write part of a plan's state: matches, device records, asset states,
/// learned certificates — each list from `from`, at most `n` of each.
pub fn write_state(c: &mut Connection, plan: &Plan, from: usize, n: usize) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let part = |len: usize| from.min(len)..(from + n).min(len);
    {
        let mut set_match = tx.prepare_cached(
            "INSERT INTO host_matches (ip, tag, info) VALUES (?1, ?2, ?3)
             ON CONFLICT (ip) DO UPDATE SET tag = excluded.tag, info = excluded.info WHERE info IS NOT excluded.info",
        )?;
        for (ip, id) in &plan.matches[part(plan.matches.len())] {
            let tag = if let Identity::Matched(m) = id { Some(m.tag.as_str()) } else { None };
            set_match.execute(params![ip, tag, serde_json::to_string(id).unwrap_or_default()])?;
        }
        let mut dev = tx.prepare_cached(
            "INSERT INTO devices (key, first_ms, last_ms, sightings, last_batch, enriched) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (key) DO UPDATE SET first_ms = excluded.first_ms, last_ms = excluded.last_ms,
               sightings = excluded.sightings, last_batch = excluded.last_batch, enriched = excluded.enriched",
        )?;
        for d in &plan.devices[part(plan.devices.len())] {
            dev.execute(params![d.key, d.first_ms, d.last_ms, d.sightings, d.last_batch, d.enriched])?;
        }
        let mut state = tx.prepare_cached(
            "INSERT INTO asset_state (tag, body) VALUES (?1, ?2) ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
        )?;
        for (tag, s) in &plan.states[part(plan.states.len())] {
            state.execute(params![tag, serde_json::to_string(s).unwrap_or_default()])?;
        }
        let mut learn =
            tx.prepare_cached("INSERT OR IGNORE INTO learned_keys (value, tag, learned_ms) VALUES (?1, ?2, ?3)")?;
        for (value, tag) in &plan.learned[part(plan.learned.len())] {
            learn.execute(params![value, tag, plan.now_ms])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Write some of the alert changes the lifecycle decided from alerts read
/// before this transaction. A change made from an alert someone changed
/// meanwhile (an operator's action) is decided again, inside the
/// transaction, with `decide`.
pub fn write_alerts(
    c: &mut Connection,
    plan: &Plan,
    changes: &[Change],
    decide: &mut dyn FnMut(crate::store::AlertInputs) -> Vec<Change>,
) -> Result<CommitOutcome, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = plan.now_ms;
    let mut out = CommitOutcome::default();
    let count = shared::count;
    let mut stale: Vec<String> = Vec::new();
    for c in changes {
        match super::alerts::write_checked(&tx, c, now)? {
            Ok(n) => {
                out.events += n;
                count(c, &mut out);
            }
            Err(super::alerts::Stale) => stale.push(c.alert.subject.clone()),
        }
    }
    if !stale.is_empty() {
        stale.sort();
        stale.dedup();
        tracing::debug!(subjects = stale.len(), "alerts changed during the run; deciding them again");
        let inputs = alert_inputs(&tx, plan, Some(&stale))?;
        for c in decide(inputs).into_iter().filter(|c| stale.binary_search(&c.alert.subject).is_ok()) {
            out.events += super::alerts::write_change(&tx, &c, now)?;
            count(&c, &mut out);
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Mark the plan's batches reconciled: the last write of a run.
pub fn mark_reconciled(c: &mut Connection, batches: &[String]) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut done = tx.prepare_cached("UPDATE batches SET reconciled = 1 WHERE batch_id = ?1")?;
        for b in batches {
            done.execute([b])?;
        }
    }
    tx.commit()?;
    Ok(())
}
