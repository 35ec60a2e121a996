//! Reading back the batches that are stored but not yet reconciled — after
//! a crash, or because agents delivered faster than reconciliation for a
//! while and the in-memory queue was full — in pages of a bounded number of
//! sightings, so a backlog of any size (or one 100,000-host batch) is
//! reconciled in the memory of one run.
//!
//! The two queries are here; paging and decoding are shared with the
//! PostgreSQL store (`store::shared::ingest::pending`, which says how a
//! batch's observations are found).

use rusqlite::{Connection, params};

use crate::reconcile::PendingBatch;
use crate::store::shared::ingest::{PENDING_HEADS, PendingHead, PendingRow};
use crate::store::{BacklogCursor, StoreError};

/// The next page of the backlog after `after`: batches (the last one
/// perhaps in part, `more` set) holding at most `budget` sightings, oldest
/// first, and the cursor to read on from. An empty page: the backlog is read.
///
/// # Errors
/// The store failed.
pub fn pending(
    c: &Connection,
    after: BacklogCursor,
    budget: usize,
) -> Result<(Vec<PendingBatch>, BacklogCursor), StoreError> {
    let mut st = c.prepare_cached(
        "SELECT batch_id, agent, segment, probed, completeness, started_ms, finished_ms, seq, first_obs, last_obs, hosts
         FROM batches WHERE reconciled = 0 AND receiving = 0 AND (seq > ?1 OR (seq = ?1 AND ?2 IS NOT NULL))
         ORDER BY seq LIMIT ?3",
    )?;
    let heads: Vec<PendingHead> = st
        .query_map(params![after.seq, after.obs, PENDING_HEADS], |r| {
            Ok(PendingHead {
                batch_id: r.get(0)?,
                agent: r.get(1)?,
                segment: r.get(2)?,
                probed: r.get(3)?,
                completeness: r.get(4)?,
                started_ms: r.get(5)?,
                finished_ms: r.get(6)?,
                seq: r.get(7)?,
                first_obs: r.get(8)?,
                last_obs: r.get(9)?,
                hosts: r.get(10)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut obs = c.prepare_cached(
        "SELECT o.id, o.body, h.sighting FROM observations o
           LEFT JOIN hosts h ON h.ip = o.ip AND h.last_batch = o.batch_id
         WHERE o.id > ?2 AND o.id <= ?3 AND o.batch_id = ?1 ORDER BY o.id LIMIT ?4",
    )?;
    crate::store::shared::ingest::pending(heads, after, budget, |batch, from, last, limit| {
        let rows: Vec<PendingRow> = obs
            .query_map(params![batch, from, last, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    })
}
