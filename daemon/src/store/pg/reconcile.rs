//! PostgreSQL: what reconciliation reads (the register's match keys,
//! sightings, device debounce state, asset state, sweep history) and its
//! one write, a committed plan (`store/sqlite/reconcile.rs` is the
//! reference; the decoding and decisions around the statements are shared,
//! `store::shared::reconcile`).
//!
//! Ordering: the register is paged and listed by tag in byte order
//! (`COLLATE "C"`), as SQLite orders it, whatever the database's collation.
//!
//! The commit: the alerts a plan involves are read, and `decide` turns them
//! into changes, before the write lock is taken (a person acting on an
//! alert meanwhile must not wait for a reconcile, nor it for them). Then
//! one transaction under the write lock writes the plan's state, reads the
//! latest alert of each subject again and writes the changes of subjects
//! whose alerts are as they were read; a subject whose alerts changed
//! meanwhile (a person's action, another daemon's commit) is decided again
//! from what is stored, inside the transaction, so that read, decision and
//! write hold the lock together. The batches are marked reconciled in the
//! same transaction. Alert rows, their history and outbox rows are written
//! as `store/sqlite/alerts.rs` writes them.

use std::collections::HashMap;

use postgres::types::{ToSql, Type};

use super::session::Session;
use super::{PostgresStore, Tx, alert_batch, alerts};
use crate::alerts::AlertKind;
use crate::alerts::lifecycle::Change;
use crate::reconcile::{AssetState, DeviceRecord, Identity, Plan, Sighting, SweepRow};
use crate::register::Asset;
use crate::store::shared::reconcile as shared;
use crate::store::{
    AlertInputs, CommitOutcome, LearnedCerts, ReconcileStore, SightingSelect, StoreError, StoredAsset, StoredPage,
};

/// What a page of the register reads of each asset.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// The whole body.
    Bodies,
    /// Its match keys alone (`assets.match_keys`, schema 7; the body
    /// where the server found none, a body that does not parse).
    MatchKeys,
}

/// Up to `limit` stored assets after tag `after` (`""`: from the first), by
/// tag in byte order: `(tag, body or match keys, created_ms)`.
///
/// # Errors
/// The query failed, or a row's columns do not read as text, text and an
/// integer (checked here, so that such a row fails the read as SQLite's
/// does instead of being left out as if it were not in the register).
fn register_rows(tx: &mut Tx<'_>, after: &str, limit: usize, read: Read) -> Result<Rows, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match read {
        Read::Bodies => {
            "SELECT tag, body, created_ms FROM assets WHERE tag COLLATE \"C\" > $1 ORDER BY tag COLLATE \"C\" LIMIT $2"
        }
        Read::MatchKeys => {
            "SELECT tag, coalesce(match_keys, body), created_ms FROM assets
             WHERE tag COLLATE \"C\" > $1 ORDER BY tag COLLATE \"C\" LIMIT $2"
        }
    };
    let rows = tx.query(sql, &[&after, &limit])?;
    for r in &rows {
        r.try_get::<_, &str>(0)?;
        r.try_get::<_, &str>(1)?;
        r.try_get::<_, i64>(2)?;
    }
    Ok(Rows(rows))
}

/// `(tag, body or match keys, created_ms)` rows as the driver returned them, each checked
/// to read (`register_rows`): their text is read in place when the page is decoded.
struct Rows(Vec<postgres::Row>);

impl StoredPage for Rows {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn row(&self, i: usize) -> Option<StoredAsset<'_>> {
        let r = self.0.get(i)?;
        Some(StoredAsset { tag: r.try_get(0).ok()?, body: r.try_get(1).ok()?, created_ms: r.try_get(2).ok()? })
    }
}

/// The retired assets (`and`: a further condition), by tag in byte order.
/// The first condition is written as the `assets_retired` partial index's.
fn retired_where(tx: &mut Tx<'_>, and: &str) -> Result<Vec<Asset>, StoreError> {
    let sql = format!(
        "SELECT tag, body FROM assets WHERE lifecycle IN ('decommissioned', 'disposed') {and} ORDER BY tag COLLATE \"C\""
    );
    let rows = tx.query(&sql, &[])?;
    Ok(shared::retired(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
}

/// Latest sightings, with the asset each host was last matched to, by
/// address text (the order SQLite's primary key gives).
fn sightings(tx: &mut Tx<'_>, sel: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError> {
    const FROM: &str = "SELECT h.sighting, m.tag, b.probed FROM hosts h LEFT JOIN host_matches m ON m.ip = h.ip
        LEFT JOIN batches b ON b.batch_id = h.last_batch";
    let rows = match sel {
        SightingSelect::Since(t) => tx.query(&format!("{FROM} WHERE h.last_seen_ms >= $1 ORDER BY h.ip"), &[t])?,
        SightingSelect::Ips(v) => tx.query_typed(
            &format!("{FROM} WHERE h.ip = ANY($1) ORDER BY h.ip"),
            &[(v as &(dyn ToSql + Sync), Type::TEXT_ARRAY)],
        )?,
        SightingSelect::Tags(v) => tx.query_typed(
            &format!("{FROM} WHERE m.tag = ANY($1) ORDER BY h.ip"),
            &[(v as &(dyn ToSql + Sync), Type::TEXT_ARRAY)],
        )?,
    };
    Ok(shared::sightings(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()))
}

/// Debounce state of unknown devices: these keys, or every device seen since `since`.
fn devices(tx: &mut Tx<'_>, keys: Option<&[String]>, since: i64) -> Result<HashMap<String, DeviceRecord>, StoreError> {
    const COLS: &str = "SELECT key, first_ms, last_ms, sightings, last_batch, enriched FROM devices";
    let rows = match keys {
        None => tx.query(&format!("{COLS} WHERE last_ms >= $1"), &[&since])?,
        Some(keys) => tx.query_typed(&format!("{COLS} WHERE key = ANY($1)"), &[(&keys, Type::TEXT_ARRAY)])?,
    };
    Ok(rows
        .iter()
        .map(|r| {
            let d = DeviceRecord {
                key: r.get(0),
                first_ms: r.get(1),
                last_ms: r.get(2),
                sightings: r.get(3),
                last_batch: r.get(4),
                enriched: r.get::<_, i64>(5) != 0,
            };
            (d.key.clone(), d)
        })
        .collect())
}

/// Per-asset reconciliation state: these tags, or all (a body that does not decode is left out).
pub(super) fn asset_states(
    tx: &mut Tx<'_>,
    tags: Option<&[String]>,
) -> Result<HashMap<String, AssetState>, StoreError> {
    let rows = match tags {
        None => tx.query("SELECT tag, body FROM asset_state", &[])?,
        Some(tags) => {
            tx.query_typed("SELECT tag, body FROM asset_state WHERE tag = ANY($1)", &[(&tags, Type::TEXT_ARRAY)])?
        }
    };
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.get::<_, String>(0), serde_json::from_str(r.get::<_, &str>(1)).ok()?)))
        .collect())
}

/// One asset's reconciliation state (a prepared statement: whois asks for it).
pub(super) fn asset_state(tx: &mut Tx<'_>, tag: &str) -> Result<Option<AssetState>, StoreError> {
    let row = tx.query_prepared_opt("SELECT body FROM asset_state WHERE tag = $1", &[(&tag, Type::TEXT)])?;
    Ok(row.and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
}

/// Sweeps after sequence `seq` (see [`ReconcileStore::sweeps_after`]) and the latest sequence of any batch.
///
/// One prepared statement outside a transaction (every whois and alert page
/// asks for new sweeps): the latest sequence comes first in every row, and
/// alone (the sweep's columns null) when no sweep is new.
fn sweeps_after(s: &mut Session, seq: i64, horizon: i64) -> Result<(Vec<SweepRow>, i64), StoreError> {
    let keep = crate::reconcile::sweeps::KEEP_RUNS as i64;
    let rows = s.query_prepared(
        "SELECT l.latest, b.seq, b.scope_id, b.agent, b.segment, b.targets, b.excluded, b.started_ms,
                b.finished_ms, b.interval_ms, b.next_due_ms, b.complete
         FROM (SELECT coalesce(max(seq), 0)::BIGINT AS latest FROM batches) l LEFT JOIN batches b
           ON b.seq > $1 AND b.receiving = 0 AND (b.finished_ms >= $2 OR b.seq IN (
             SELECT r.seq FROM (
                 SELECT seq, row_number() OVER (PARTITION BY scope_id, complete ORDER BY finished_ms DESC, seq DESC) AS n
                 FROM batches WHERE seq > $1 AND finished_ms < $2 AND receiving = 0
             ) AS r WHERE r.n <= $3))
         ORDER BY b.seq",
        &[(&seq, Type::INT8), (&horizon, Type::INT8), (&keep, Type::INT8)],
    )?;
    let latest: i64 = rows.first().map_or(0, |r| r.get(0));
    let sweeps: Vec<SweepRow> = rows
        .iter()
        .filter_map(|r| {
            Some(SweepRow {
                seq: r.get::<_, Option<i64>>(1)?,
                scope: r.get::<_, Option<i64>>(2).unwrap_or(0),
                agent: r.get(3),
                segment: r.get(4),
                targets: shared::networks(r.get(5)),
                excluded: shared::networks(r.get(6)),
                started_ms: r.get(7),
                finished_ms: r.get(8),
                interval_ms: r.get(9),
                next_due_ms: r.get(10),
                complete: r.get::<_, i64>(11) != 0,
            })
        })
        .collect();
    let max_seq = sweeps.iter().map(|s| s.seq).fold(seq, i64::max);
    // Batches past the horizon (or partial) still advance the sequence, so they are not read again.
    Ok((sweeps, latest.max(max_seq)))
}

/// The id and revision of the latest alert of every (kind, subject) among `subjects`.
fn latest_revisions(tx: &mut Tx<'_>, subjects: &[String]) -> Result<shared::Revisions, StoreError> {
    let rows = tx.query_typed(
        "SELECT DISTINCT ON (kind, subject) kind, subject, id, rev FROM alerts WHERE subject = ANY($1)
         ORDER BY kind, subject, id DESC",
        &[(&subjects, Type::TEXT_ARRAY)],
    )?;
    let mut out = shared::Revisions::new();
    for r in &rows {
        let kind: &str = r.get(0);
        let kind: AlertKind =
            kind.parse().map_err(|_| StoreError::Db(format!("alerts.kind: unknown value `{kind}`")))?;
        out.insert((kind, r.get(1)), (r.get(2), r.get(3)));
    }
    Ok(out)
}

/// What the alert lifecycle reads for a plan: the latest alert of each of
/// `subjects` (those it involves, or some of them), the live suppression rules and
/// the agents' hourly counts.
fn alert_inputs(tx: &mut Tx<'_>, plan: &Plan, subjects: &[String]) -> Result<AlertInputs, StoreError> {
    let agents = shared::plan_agents(plan);
    Ok(AlertInputs {
        existing: alerts::latest_for_subjects(tx, subjects)?,
        suppressions: alerts::active_suppressions(tx, plan.now_ms)?,
        opened_last_hour: alerts::device_alerts_opened_since(tx, &agents, plan.now_ms - 3_600_000)?,
    })
}

/// The last of each key's entries, in the order of their first (one
/// statement may not change a row twice; SQLite's one-by-one writes leave the last).
fn last_per_key<'a, T, K: std::hash::Hash + Eq>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut at: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match at.entry(key(item)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = item,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

/// Write a plan's state: matches, device records, asset states, learned
/// certificates. Returns how many match rows were inserted or changed.
fn write_state(tx: &mut Tx<'_>, plan: &Plan) -> Result<u64, StoreError> {
    let matches = last_per_key(&plan.matches, |(ip, _)| ip.as_str());
    let mut written = 0;
    if !matches.is_empty() {
        let ips: Vec<&str> = matches.iter().map(|(ip, _)| ip.as_str()).collect();
        let tags: Vec<Option<&str>> = matches
            .iter()
            .map(|(_, id)| if let Identity::Matched(m) = id { Some(m.tag.as_str()) } else { None })
            .collect();
        let infos: Vec<String> = matches.iter().map(|(_, id)| serde_json::to_string(id).unwrap_or_default()).collect();
        written = tx.execute_typed(
            "INSERT INTO host_matches (ip, tag, info) SELECT * FROM UNNEST($1, $2, $3)
             ON CONFLICT (ip) DO UPDATE SET tag = excluded.tag, info = excluded.info
             WHERE host_matches.info IS DISTINCT FROM excluded.info",
            &[(&ips, Type::TEXT_ARRAY), (&tags, Type::TEXT_ARRAY), (&infos, Type::TEXT_ARRAY)],
        )?;
    }
    let devices = last_per_key(&plan.devices, |d| d.key.as_str());
    if !devices.is_empty() {
        let keys: Vec<&str> = devices.iter().map(|d| d.key.as_str()).collect();
        let first: Vec<i64> = devices.iter().map(|d| d.first_ms).collect();
        let last: Vec<i64> = devices.iter().map(|d| d.last_ms).collect();
        let count: Vec<i64> = devices.iter().map(|d| d.sightings).collect();
        let batch: Vec<&str> = devices.iter().map(|d| d.last_batch.as_str()).collect();
        let enriched: Vec<i64> = devices.iter().map(|d| i64::from(d.enriched)).collect();
        tx.execute_typed(
            "INSERT INTO devices (key, first_ms, last_ms, sightings, last_batch, enriched)
             SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET first_ms = excluded.first_ms, last_ms = excluded.last_ms,
               sightings = excluded.sightings, last_batch = excluded.last_batch, enriched = excluded.enriched",
            &[
                (&keys, Type::TEXT_ARRAY),
                (&first, Type::INT8_ARRAY),
                (&last, Type::INT8_ARRAY),
                (&count, Type::INT8_ARRAY),
                (&batch, Type::TEXT_ARRAY),
                (&enriched, Type::INT8_ARRAY),
            ],
        )?;
    }
    let states = last_per_key(&plan.states, |(tag, _)| tag.as_str());
    if !states.is_empty() {
        let tags: Vec<&str> = states.iter().map(|(tag, _)| tag.as_str()).collect();
        let bodies: Vec<String> = states.iter().map(|(_, s)| serde_json::to_string(s).unwrap_or_default()).collect();
        tx.execute_typed(
            "INSERT INTO asset_state (tag, body) SELECT * FROM UNNEST($1, $2)
             ON CONFLICT (tag) DO UPDATE SET body = excluded.body",
            &[(&tags, Type::TEXT_ARRAY), (&bodies, Type::TEXT_ARRAY)],
        )?;
    }
    if !plan.learned.is_empty() {
        // The first tie of a certificate stays, as SQLite's `INSERT OR IGNORE` one by one keeps it.
        let values: Vec<&str> = plan.learned.iter().map(|(v, _)| v.as_str()).collect();
        let tags: Vec<&str> = plan.learned.iter().map(|(_, t)| t.as_str()).collect();
        tx.execute_typed(
            "INSERT INTO learned_keys (value, tag, learned_ms)
             SELECT u.v, u.t, $3 FROM UNNEST($1, $2) WITH ORDINALITY AS u(v, t, n) ORDER BY u.n
             ON CONFLICT (value) DO NOTHING",
            &[(&values, Type::TEXT_ARRAY), (&tags, Type::TEXT_ARRAY), (&plan.now_ms, Type::INT8)],
        )?;
    }
    Ok(written)
}

/// Write the alert changes decided from `read` (the revisions the decision
/// saw): those of subjects whose alerts are still as read; the others are
/// decided again with `decide` from what is stored, and written.
fn write_alerts(
    tx: &mut Tx<'_>,
    plan: &Plan,
    subjects: &[String],
    read: &shared::Revisions,
    changes: &[Change],
    decide: &mut (dyn FnMut(AlertInputs) -> Vec<Change> + Send),
) -> Result<CommitOutcome, StoreError> {
    let now = plan.now_ms;
    let mut out = CommitOutcome::default();
    let stored = latest_revisions(tx, subjects)?;
    let mut stale = shared::changed_subjects(read, &stored);
    let mut refused: Vec<String> = Vec::new();
    let fresh: Vec<&Change> = changes.iter().filter(|c| stale.binary_search(&c.alert.subject).is_err()).collect();
    for (c, written) in fresh.iter().zip(alert_batch::write_checked_all(tx, &fresh, now)?) {
        match written {
            Ok(n) => {
                out.events += n;
                shared::count(c, &mut out);
            }
            Err(alerts::Stale) => refused.push(c.alert.subject.clone()),
        }
    }
    stale.extend(refused);
    stale.sort();
    stale.dedup();
    if !stale.is_empty() {
        tracing::debug!(subjects = stale.len(), "alerts changed during the run; deciding them again");
        let inputs = alert_inputs(tx, plan, &stale)?;
        for c in decide(inputs).into_iter().filter(|c| stale.binary_search(&c.alert.subject).is_ok()) {
            out.events += alerts::write_change(tx, &c, now)?;
            shared::count(&c, &mut out);
        }
    }
    Ok(out)
}

impl ReconcileStore for PostgresStore {
    fn register_rows(&self, after: Option<&str>, limit: usize) -> Result<Box<dyn StoredPage>, StoreError> {
        Ok(Box::new(self.read(|tx| register_rows(tx, after.unwrap_or(""), limit, Read::Bodies))?))
    }

    fn register_keys(&self, after: Option<&str>, limit: usize) -> Result<Box<dyn StoredPage>, StoreError> {
        Ok(Box::new(self.read(|tx| register_rows(tx, after.unwrap_or(""), limit, Read::MatchKeys))?))
    }

    fn register_size_hint(&self) -> Result<usize, StoreError> {
        // Estimated as the planner does (counting a million rows costs about
        // what the estimate saves): the rows a page held at the last
        // analyse (reltuples / relpages) times the pages the table has now.
        // reltuples alone is the count at that analyse, which lags: after a
        // register import autovacuum had analysed the first tenth of it, and
        // the index, sized for 100,000 assets, grew by doubling to a million
        // (bench/RESULTS.md, 2026-12-07 evening). Counted before the first
        // analyse (reltuples -1), when the table is new or small.
        self.read(|tx| {
            let n: i64 = tx
                .query_one(
                    "SELECT CASE WHEN reltuples > 0 AND relpages > 0
                       THEN (reltuples / relpages
                             * (pg_relation_size(oid) / current_setting('block_size')::BIGINT))::BIGINT
                       ELSE (SELECT count(*) FROM assets) END
                     FROM pg_class WHERE oid = 'assets'::regclass",
                    &[],
                )?
                .get(0);
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn learned_certs(&self) -> Result<LearnedCerts, StoreError> {
        self.read(|tx| {
            Ok(tx.query("SELECT value, tag FROM learned_keys", &[])?.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn retired_credential_holders(&self) -> Result<Vec<Asset>, StoreError> {
        // The text test skips decoding the rest (`certificates` is written only when not empty).
        self.read(|tx| {
            retired_where(tx, "AND (strpos(body, '\"certificates\"') > 0 OR tag IN (SELECT tag FROM learned_keys))")
        })
    }

    fn retired_assets(&self) -> Result<Vec<Asset>, StoreError> {
        self.read(|tx| retired_where(tx, ""))
    }

    fn sightings(&self, select: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError> {
        self.read(|tx| sightings(tx, select))
    }

    fn devices(&self, keys: Option<&[String]>, since: i64) -> Result<HashMap<String, DeviceRecord>, StoreError> {
        self.read(|tx| devices(tx, keys, since))
    }

    fn asset_states(&self, tags: Option<&[String]>) -> Result<HashMap<String, AssetState>, StoreError> {
        self.read(|tx| asset_states(tx, tags))
    }

    fn oldest_unreconciled_ms(&self) -> Result<Option<i64>, StoreError> {
        self.read(|tx| {
            Ok(tx.query_one("SELECT min(received_ms) FROM batches WHERE reconciled = 0 AND receiving = 0", &[])?.get(0))
        })
    }

    fn unreconciled_batches(&self) -> Result<usize, StoreError> {
        self.read(|tx| {
            let n: i64 =
                tx.query_one("SELECT count(*) FROM batches WHERE reconciled = 0 AND receiving = 0", &[])?.get(0);
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn live_subjects(&self) -> Result<Vec<(AlertKind, String)>, StoreError> {
        self.read(|tx| {
            let rows = tx.query("SELECT DISTINCT kind, subject FROM alerts WHERE state != 'resolved'", &[])?;
            Ok(shared::kinds(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
        })
    }

    fn alerted_subjects(
        &self,
        kinds: &[AlertKind],
        after_id: i64,
    ) -> Result<(Vec<(AlertKind, String)>, i64), StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT kind, subject, max(id) FROM alerts WHERE id > $1 GROUP BY kind, subject",
                &[&after_id],
            )?;
            Ok(shared::alerted(kinds, rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect(), after_id))
        })
    }

    fn sweeps_after(&self, seq: i64, horizon_ms: i64) -> Result<(Vec<SweepRow>, i64), StoreError> {
        self.single(|s| sweeps_after(s, seq, horizon_ms))
    }

    fn commit_reconcile(
        &self,
        plan: &Plan,
        decide: &mut (dyn FnMut(AlertInputs) -> Vec<Change> + Send),
    ) -> Result<CommitOutcome, StoreError> {
        // Read and decide before taking the write lock (see the module docs).
        let t = std::time::Instant::now();
        let subjects = plan.subjects();
        let inputs = self.read(|tx| alert_inputs(tx, plan, &subjects))?;
        let loaded = t.elapsed();
        let read = shared::revisions(&inputs.existing);
        let changes = decide(inputs);
        tracing::debug!(
            load_alerts_ms = loaded.as_secs_f64() * 1000.0,
            decide_ms = (t.elapsed() - loaded).as_secs_f64() * 1000.0,
            subjects = subjects.len(),
            "reconcile decide phases"
        );
        let (out, matches_written) = self.write(|tx| {
            if let Some(turn) = plan.turn {
                // First, before anything is written: a full reconcile whose
                // turn passed to another daemon while it decided writes nothing.
                super::turn::fence(tx, &self.schema, crate::store::Job::FullReconcile, turn)?;
            }
            let matches_written = write_state(tx, plan)?;
            let out = write_alerts(tx, plan, &subjects, &read, &changes, decide)?;
            if !plan.batches.is_empty() {
                // Each batch is reconciled once: when another daemon took one
                // over and committed it meanwhile (its own daemon died, or
                // both took a dead daemon's batch), this run is undone and
                // its caller reloads what is still waiting.
                let marked = tx.execute_typed(
                    "UPDATE batches SET reconciled = 1 WHERE batch_id = ANY($1) AND reconciled = 0",
                    &[(&plan.batches, Type::TEXT_ARRAY)],
                )?;
                let mut batches = plan.batches.clone();
                batches.sort();
                batches.dedup();
                if marked != batches.len() as u64 {
                    return Err(StoreError::Conflict(format!(
                        "{} of the run's {} batches were reconciled by another daemon meanwhile",
                        batches.len() as u64 - marked,
                        batches.len()
                    )));
                }
            }
            Ok((out, matches_written))
        })?;
        self.grew(super::statistics::Group::Matches, matches_written);
        Ok(out)
    }
}
