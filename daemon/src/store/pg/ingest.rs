//! PostgreSQL: ingesting batches, the observation history and host records
//! (`store/sqlite/ingest.rs` is the reference; the decisions are shared,
//! `store::shared::ingest`).
//!
//! Idempotent on the batch id, which belongs to the agent that sent it
//! first. A batch of at most [`WHOLE`] observations is stored in one
//! transaction. A larger one is stored in parts, as on SQLite, so one
//! agent's 100,000-host batch never holds the ingest lock long away from
//! another agent: [`begin`] records the batch as *receiving*, each part of
//! at most [`PART`] observations is its own transaction (`chunk::store`,
//! which also counts the stored rows in `batches.stored_rows`), and
//! [`finish`] marks it stored and gives it its arrival number `seq`. Until
//! then no sweep, reconcile or receipt sees it; a cut delivery is resumed
//! by the agent's resend, which skips the rows already stored. Memory stays
//! bounded by a part: the rows are the caller's, each part's arrays are
//! built and dropped in turn.
//!
//! Durability as on SQLite: the parts commit with `synchronous_commit`
//! off, and the commit that makes the batch *stored* (the one the agent's
//! receipt waits on) is synchronous, which flushes the write-ahead log up
//! to it, parts included. A crash in between loses at most parts whose
//! `stored_rows` is lost with them, so the resend stores them again.
//!
//! Every transaction here holds [`INGEST_LOCK`], not the write lock that
//! the register, reconciliation and alerts take turns on (`pg/mod.rs` says
//! why that is safe): a batch is stored while a reconcile commits.
//!
//! `seq` is drawn from the sequence `batch_arrival` by the commit that
//! completes the batch, under the ingest lock: strictly increasing in
//! commit order (`censusd migrate-store` restarts it after the copied rows).

use super::statistics::Group;
use super::{INGEST_LOCK, PostgresStore, Tx, WRITE_LOCK, chunk, pending, rollup};
use crate::reconcile::PendingBatch;
use crate::store::{
    BacklogCursor, BatchMeta, DaySightings, HostChange, HostRecord, IngestOutcome, ObservationRow, ObservationStore,
    RollUp, StoreError,
};

/// Observations a batch may hold to be stored in one transaction.
pub const WHOLE: usize = 2_000;

/// Observations per transaction of a larger batch.
pub const PART: usize = 2_000;

/// Where a batch stands when its delivery begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Begun {
    /// Stored before: acknowledge it again, store nothing.
    Duplicate,
    /// New (`0`), or a delivery cut off after this many of its accepted
    /// observations were stored: store the rest.
    Store(usize),
}

/// Record the batch (as receiving) unless it is known.
///
/// # Errors
/// [`StoreError::Conflict`] when another agent sent this batch id.
pub(super) fn begin(tx: &mut Tx<'_>, batch: &BatchMeta, agent: &str, accepted: usize) -> Result<Begun, StoreError> {
    let batch_id = &batch.batch_id;
    let known = tx.query_opt("SELECT agent, receiving, stored_rows FROM batches WHERE batch_id = $1", &[batch_id])?;
    if let Some(r) = known {
        let (owner, receiving, stored): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
        return if owner != agent {
            Err(StoreError::Conflict(format!("batch id {batch_id} (sent by another agent)")))
        } else if receiving == 0 {
            Ok(Begun::Duplicate)
        } else {
            Ok(Begun::Store(usize::try_from(stored).unwrap_or(0)))
        };
    }
    // The scope's id, found or added (under the ingest lock, so no other
    // writer adds it meanwhile; found first, so no identity value is spent).
    let scope_key: [&(dyn postgres::types::ToSql + Sync); 4] =
        [&agent, &batch.segment, &batch.targets, &batch.excluded];
    let found = tx.query_opt(
        "SELECT id FROM scopes WHERE agent = $1 AND segment = $2 AND targets = $3 AND excluded = $4",
        &scope_key,
    )?;
    let scope: i64 = match found {
        Some(r) => r.get(0),
        None => tx
            .query_one(
                "INSERT INTO scopes (agent, segment, targets, excluded) VALUES ($1, $2, $3, $4) RETURNING id",
                &scope_key,
            )?
            .get(0),
    };
    let hosts = accepted as i64;
    let rejected = batch.total_hosts.saturating_sub(accepted) as i64;
    tx.execute(
        "INSERT INTO batches (batch_id, agent, segment, started_ms, finished_ms, received_ms, complete, completeness,
           hosts, rejected, targets, excluded, scope_id, probed, clamped, interval_ms, next_due_ms, reconciled,
           receiving)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 0, 1)",
        &[
            batch_id,
            &agent,
            &batch.segment,
            &batch.started_ms,
            &batch.finished_ms,
            &batch.received_ms,
            &i64::from(batch.complete),
            &batch.completeness,
            &hosts,
            &rejected,
            &batch.targets,
            &batch.excluded,
            &scope,
            &batch.probed,
            &i64::from(batch.clamped),
            &batch.interval_ms,
            &batch.next_due_ms,
        ],
    )?;
    Ok(Begun::Store(0))
}

/// [`crate::store::shared::ingest::part_at`], read in a part's transaction.
///
/// # Errors
/// [`StoreError::Busy`] when another delivery of the batch got ahead.
fn still_ours(tx: &mut Tx<'_>, batch_id: &str, at: usize) -> Result<(), StoreError> {
    let row = tx.query_opt("SELECT stored_rows FROM batches WHERE batch_id = $1 AND receiving = 1", &[&batch_id])?;
    crate::store::shared::ingest::part_at(batch_id, row.map(|r| r.get(0)), at)
}

/// Mark the batch stored and number its arrival.
pub(super) fn finish(tx: &mut Tx<'_>, batch_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE batches SET receiving = 0, seq = nextval('batch_arrival') WHERE batch_id = $1 AND receiving = 1",
        &[&batch_id],
    )?;
    Ok(())
}

/// A transaction whose commit need not wait for the disk (see the module docs).
fn unsynced(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    tx.batch_execute("SET LOCAL synchronous_commit = off")?;
    Ok(())
}

/// What is known about one address, with its latest observation and (up to 100) changes.
fn host(tx: &mut Tx<'_>, ip: &str) -> Result<Option<HostRecord>, StoreError> {
    let row = tx.query_opt(
        "SELECT mac, first_seen_ms, last_seen_ms, last_agent, latest_obs, observations FROM hosts WHERE ip = $1",
        &[&ip],
    )?;
    let Some(row) = row else { return Ok(None) };
    let latest: i64 = row.get(4);
    let body: String = tx.query_one("SELECT body FROM observations WHERE id = $1", &[&latest])?.get(0);
    let changes = tx
        .query(
            "SELECT at_ms, batch_id, kind, old, new FROM host_changes WHERE ip = $1 ORDER BY id DESC LIMIT 100",
            &[&ip],
        )?
        .iter()
        .map(|r| HostChange { at_ms: r.get(0), batch_id: r.get(1), kind: r.get(2), old: r.get(3), new: r.get(4) })
        .collect();
    Ok(Some(HostRecord {
        ip: ip.to_string(),
        mac: row.get(0),
        first_seen_ms: row.get(1),
        last_seen_ms: row.get(2),
        last_agent: row.get(3),
        observations: row.get(5),
        latest: crate::store::shared::ingest::shown_observation(&body),
        changes,
    }))
}

impl ObservationStore for PostgresStore {
    fn ingest(&self, batch: &BatchMeta, agent: &str, rows: &[ObservationRow<'_>]) -> Result<IngestOutcome, StoreError> {
        const DUPLICATE: IngestOutcome = IngestOutcome { duplicate: true, stored: 0, changed_hosts: 0 };
        if rows.len() <= WHOLE {
            let stored = self.write_holding(&[INGEST_LOCK], |tx| {
                let Begun::Store(done) = begin(tx, batch, agent, rows.len())? else { return Ok(None) };
                let out = chunk::store(tx, batch, agent, rows.get(done..).unwrap_or_default())?;
                finish(tx, &batch.batch_id)?;
                Ok(Some(out))
            })?;
            return Ok(match stored {
                None => DUPLICATE,
                Some(s) => {
                    self.grew(Group::Hosts, s.new_hosts as u64);
                    IngestOutcome { duplicate: false, stored: s.rows, changed_hosts: s.changed_hosts }
                }
            });
        }
        // Each part its own turn at the ingest lock.
        let begun = self.write_holding(&[INGEST_LOCK], |tx| {
            unsynced(tx)?;
            begin(tx, batch, agent, rows.len())
        })?;
        let Begun::Store(done) = begun else { return Ok(DUPLICATE) };
        let mut out = IngestOutcome { duplicate: false, stored: 0, changed_hosts: 0 };
        for part in rows.get(done..).unwrap_or_default().chunks(PART) {
            let at = done + out.stored;
            let s = self.write_holding(&[INGEST_LOCK], |tx| {
                unsynced(tx)?;
                still_ours(tx, &batch.batch_id, at)?;
                chunk::store(tx, batch, agent, part)
            })?;
            out.stored += s.rows;
            out.changed_hosts += s.changed_hosts;
            self.grew(Group::Hosts, s.new_hosts as u64);
        }
        self.write_holding(&[INGEST_LOCK], |tx| finish(tx, &batch.batch_id))?;
        Ok(out)
    }

    fn pending_batches(
        &self,
        after: BacklogCursor,
        budget: usize,
    ) -> Result<(Vec<PendingBatch>, BacklogCursor), StoreError> {
        self.read(|tx| pending::pending(tx, after, budget))
    }

    fn host(&self, ip: &str) -> Result<Option<HostRecord>, StoreError> {
        self.read(|tx| host(tx, ip))
    }

    fn sightings_by_day(&self, ip: &str, since_ms: i64) -> Result<Vec<DaySightings>, StoreError> {
        self.read(|tx| rollup::sightings_by_day(tx, ip, since_ms))
    }

    fn observation_count(&self) -> Result<i64, StoreError> {
        // Each stored batch records its accepted observations: summing a few
        // thousand batch rows, not counting millions of observations.
        self.read(|tx| {
            let row = tx.query_one("SELECT coalesce(sum(hosts), 0)::BIGINT FROM batches WHERE receiving = 0", &[])?;
            Ok(row.get(0))
        })
    }

    fn roll_up(&self, before_ms: i64, budget: usize) -> Result<RollUp, StoreError> {
        use std::sync::atomic::Ordering;
        // Each part its own transaction (its own turn at both locks).
        // It reads hosts and deletes observations: both locks, the write
        // lock first (see `pg/mod.rs`), so a part waiting for a reconcile's
        // commit holds nothing an agent's batch waits for.
        let r = crate::store::shared::rollup::roll_up(budget, || {
            self.write_holding(&[WRITE_LOCK, INGEST_LOCK], |tx| rollup::part(tx, before_ms))
        })?;
        self.unvacuumed.fetch_add(r.observations, Ordering::Relaxed);
        if !r.more && self.unvacuumed.swap(0, Ordering::Relaxed) > 0 {
            rollup::vacuum(self);
        }
        Ok(r)
    }
}
