//! PostgreSQL: reading back the batches stored but not yet reconciled, in
//! pages of a bounded number of sightings (`store/sqlite/pending.rs`; the
//! paging and decoding are shared, `store::shared::ingest::pending`).

use postgres::types::Type;

use super::Tx;
use crate::reconcile::PendingBatch;
use crate::store::shared::ingest::{PENDING_HEADS, PendingHead};
use crate::store::{BacklogCursor, StoreError};

/// The next page of the backlog after `after`: batches (the last one
/// perhaps in part, `more` set) holding at most `budget` sightings, oldest
/// first, and the cursor to read on from. An empty page: the backlog is read.
///
/// # Errors
/// The store failed.
pub(super) fn pending(
    tx: &mut Tx<'_>,
    after: BacklogCursor,
    budget: usize,
) -> Result<(Vec<PendingBatch>, BacklogCursor), StoreError> {
    let heads: Vec<PendingHead> = tx
        .query_typed(
            "SELECT batch_id, agent, segment, probed, completeness, started_ms, finished_ms, seq, first_obs, last_obs,
               hosts
             FROM batches WHERE reconciled = 0 AND receiving = 0 AND (seq > $1 OR (seq = $1 AND $2::BIGINT IS NOT NULL))
             ORDER BY seq LIMIT $3",
            &[(&after.seq, Type::INT8), (&after.obs, Type::INT8), (&PENDING_HEADS, Type::INT8)],
        )?
        .iter()
        .map(|r| PendingHead {
            batch_id: r.get(0),
            agent: r.get(1),
            segment: r.get(2),
            probed: r.get(3),
            completeness: r.get(4),
            started_ms: r.get(5),
            finished_ms: r.get(6),
            seq: r.get(7),
            first_obs: r.get(8),
            last_obs: r.get(9),
            hosts: r.get(10),
        })
        .collect();
    crate::store::shared::ingest::pending(heads, after, budget, |batch, from, last, limit| {
        let rows = tx.query_typed(
            "SELECT o.id, o.body, h.sighting FROM observations o
               LEFT JOIN hosts h ON h.ip = o.ip AND h.last_batch = o.batch_id
             WHERE o.id > $2 AND o.id <= $3 AND o.batch_id = $1 ORDER BY o.id LIMIT $4",
            &[(&batch, Type::TEXT), (&from, Type::INT8), (&last, Type::INT8), (&limit, Type::INT8)],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    })
}
