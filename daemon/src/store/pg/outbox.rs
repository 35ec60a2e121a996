//! PostgreSQL: the notification outbox (rows written with their alert's
//! change by `store/pg/alerts.rs`), handed out to each sink's deliverer.
//!
//! Outbox: several daemons may share the database and each drains every
//! sink. [`OutboxStore::outbox_due`] therefore *claims* what it hands out:
//! in the same write it moves each returned row's `next_ms` ahead by a
//! lease ([`lease_until`]), so no other daemon takes it meanwhile (rows are
//! also locked `FOR UPDATE SKIP LOCKED`). A daemon killed mid-delivery
//! leaves its rows due again once their leases pass. Delivery marks the row
//! delivered; a failure sets its retry time and gives back the rows claimed
//! after it, which that daemon no longer delivers (it stops at a failure).

use super::PostgresStore;
use crate::store::shared::alerts as shared;
use crate::store::{OutboxItem, OutboxStore, StoreError};

/// How long the first event `outbox_due` hands out stays claimed (ms).
pub const LEASE_MS: i64 = 30_000;

/// How much longer each further event of one claim stays claimed (ms): a
/// delivery takes at most the webhook client's 10 s timeout, so the daemon
/// reaches the `n`-th event of its claim well within that event's lease.
pub const LEASE_PER_EVENT_MS: i64 = 12_000;

/// Until when the event at `position` (0 first) of a claim made at `now` is claimed.
pub fn lease_until(now: i64, position: usize) -> i64 {
    let position = i64::try_from(position).unwrap_or(i64::MAX);
    now.saturating_add(LEASE_MS).saturating_add(position.saturating_mul(LEASE_PER_EVENT_MS))
}

impl OutboxStore for PostgresStore {
    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(|tx| {
            let rows = tx.query(
                "SELECT id, attempts, event, next_ms FROM outbox WHERE sink = $1 AND delivered_ms IS NULL
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&sink, &limit],
            )?;
            let due = shared::due_in_order(
                rows.iter().map(|r| -> Result<(OutboxItem, i64), StoreError> {
                    let attempts: i64 = r.try_get(1)?;
                    let attempts = u32::try_from(attempts)
                        .map_err(|_| StoreError::Db(format!("outbox.attempts out of range: {attempts}")))?;
                    Ok((OutboxItem { id: r.try_get(0)?, attempts, event: r.try_get(2)? }, r.try_get(3)?))
                }),
                now,
            )?;
            if !due.is_empty() {
                // The claim: each row due again only once its lease has passed.
                let ids: Vec<i64> = due.iter().map(|i| i.id).collect();
                let until: Vec<i64> = (0..due.len()).map(|i| lease_until(now, i)).collect();
                tx.execute(
                    "UPDATE outbox o SET next_ms = c.until FROM unnest($1::BIGINT[], $2::BIGINT[]) AS c(id, until)
                     WHERE o.id = c.id",
                    &[&ids, &until],
                )?;
            }
            Ok(due)
        })
    }

    fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE outbox SET delivered_ms = $2, attempts = attempts + 1 WHERE id = $1", &[&id, &now])?;
            tx.execute(
                "DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < $1",
                &[&(now - shared::DELIVERED_KEPT_MS)],
            )?;
            Ok(())
        })
    }

    fn outbox_failed(&self, id: i64, attempts: u32, retry_at: i64, error: &str) -> Result<(), StoreError> {
        let error = shared::error_text(error);
        self.write(|tx| {
            let updated = tx.query_opt(
                "UPDATE outbox SET attempts = $2, next_ms = $3, last_error = $4 WHERE id = $1 RETURNING sink",
                &[&id, &i64::from(attempts), &retry_at, &error],
            )?;
            // The daemon stops at a failure: the rows it claimed after this
            // one (never tried) are given back, due as they were, and wait
            // behind this one's retry like any other.
            if let Some(r) = updated {
                let sink: String = r.try_get(0)?;
                tx.execute(
                    "UPDATE outbox SET next_ms = created_ms WHERE sink = $1 AND id > $2 AND delivered_ms IS NULL
                       AND attempts = 0 AND next_ms > created_ms",
                    &[&sink, &id],
                )?;
            }
            Ok(())
        })
    }

    fn outbox_backlog(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT sink, count(*) FROM outbox WHERE delivered_ms IS NULL GROUP BY sink ORDER BY sink COLLATE \"C\"",
                &[],
            )?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        })
    }
}
