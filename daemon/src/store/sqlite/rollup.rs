//! Bounded history: the raw observations of batches older than the
//! retention period folded into one row per address and UTC day
//! (`sightings_daily`), so the database stops growing once the retention
//! period has passed (`docs/data-retention.md`).
//!
//! A batch is rolled up in parts, each its own short transaction (so a
//! delivery never waits long behind it): a part reads up to [`PART`] of the
//! batch's observations by id (its `first_obs..=last_obs` range, other
//! batches' rows filtered out), adds them to their day's row, deletes
//! them and records how far it got (`batches.rolled_to`); a crash between
//! parts resumes from there, and since a part's summary and its deletions
//! commit together nothing is counted twice or lost. The batch is marked
//! `rolled_up` after its last part.
//!
//! Kept raw: an address's latest observation (`hosts.latest_obs`: whois
//! and the asset page show it as sent), and every observation of a batch
//! still being received or not yet reconciled (the reconcile backlog reads
//! them back). A latest observation that is later superseded stays raw:
//! one row per address for each time it went unseen longer than the
//! retention period and came back.
//!
//! A day's row keeps the count, first and last sighting and the distinct
//! MACs (up to [`MACS_KEPT`](crate::store::shared::rollup::MACS_KEPT)): the
//! same answers [`sightings_by_day`] gave from the raw rows. The summing is
//! shared with the PostgreSQL store (`store::shared::rollup`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::shared::rollup::{Day, PART, Part, RawRow, by_day, fold, macs_of};
use crate::store::{DaySightings, StoreError};

/// Roll up one part of the oldest batch that ended before `before_ms` and
/// is stored and reconciled.
///
/// # Errors
/// The store failed; the part's transaction is rolled back whole.
pub fn part(c: &mut Connection, before_ms: i64) -> Result<Part, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // (batch id, its first and last observation ids, rolled up to id).
    type Due = (String, Option<i64>, Option<i64>, Option<i64>);
    let next: Option<Due> = tx
        .query_row(
            "SELECT batch_id, first_obs, last_obs, rolled_to FROM batches
             WHERE rolled_up = 0 AND finished_ms < ?1 AND receiving = 0 AND reconciled = 1
             ORDER BY finished_ms LIMIT 1",
            [before_ms],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((batch, first, last, rolled_to)) = next else { return Ok(None) };
    let (Some(lo), Some(hi)) = (first, last) else {
        // A batch without observations (an empty sweep): nothing to fold.
        tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = ?1", [&batch])?;
        tx.commit()?;
        return Ok(Some((0, true)));
    };
    let from = rolled_to.map_or(lo, |r| r + 1);
    let rows: Vec<RawRow> = {
        let mut st = tx.prepare_cached(
            "SELECT o.id, o.ip, o.mac, o.seen_ms, coalesce(h.latest_obs = o.id, 0) FROM observations o
             LEFT JOIN hosts h ON h.ip = o.ip
             WHERE o.id BETWEEN ?1 AND ?2 AND o.batch_id = ?3 ORDER BY o.id LIMIT ?4",
        )?;
        st.query_map(params![from, hi, batch, PART as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let (days, ids) = fold(&rows);
    let rolled = ids.len() as u64;
    {
        let mut delete = tx.prepare_cached("DELETE FROM observations WHERE id = ?1")?;
        for id in &ids {
            delete.execute([id])?;
        }
        let mut read =
            tx.prepare_cached("SELECT count, first_ms, last_ms, macs FROM sightings_daily WHERE ip = ?1 AND day = ?2")?;
        let mut write = tx.prepare_cached(
            "INSERT OR REPLACE INTO sightings_daily (ip, day, count, first_ms, last_ms, macs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for ((ip, day), sum) in days {
            let mut total = read
                .query_row(params![ip, day], |r| {
                    Ok(Day {
                        count: r.get(0)?,
                        first_ms: r.get(1)?,
                        last_ms: r.get(2)?,
                        macs: macs_of(&r.get::<_, String>(3)?),
                    })
                })
                .optional()?
                .unwrap_or_default();
            total.merge(sum);
            write.execute(params![ip, day, total.count, total.first_ms, total.last_ms, total.macs_json()])?;
        }
    }
    let done = rows.len() < PART;
    match rows.last() {
        Some((id, ..)) if !done => {
            tx.execute("UPDATE batches SET rolled_to = ?2 WHERE batch_id = ?1", params![batch, id])?;
        }
        _ => {
            tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = ?1", [&batch])?;
        }
    }
    tx.commit()?;
    Ok(Some((rolled, done)))
}

/// `ip`'s sightings per UTC day since `since_ms`, newest day first: the
/// raw observations' days merged with the rolled-up ones. A rolled-up day
/// counts whole when its last sighting is at or after `since_ms`.
///
/// # Errors
/// The store failed.
pub fn sightings_by_day(c: &Connection, ip: &str, since_ms: i64) -> Result<Vec<DaySightings>, StoreError> {
    let mut days: Vec<(i64, Day)> = Vec::new();
    let mut raw = c.prepare_cached(
        "SELECT seen_ms / 86400000, count(*), min(seen_ms), max(seen_ms), group_concat(DISTINCT mac) FROM observations
         WHERE ip = ?1 AND seen_ms >= ?2 GROUP BY seen_ms / 86400000",
    )?;
    let rows = raw.query_map(params![ip, since_ms], |r| {
        let macs: Option<String> = r.get(4)?;
        Ok((
            r.get::<_, i64>(0)?,
            Day {
                count: r.get(1)?,
                first_ms: r.get(2)?,
                last_ms: r.get(3)?,
                macs: macs.map(|m| m.split(',').map(str::to_string).collect()).unwrap_or_default(),
            },
        ))
    })?;
    for row in rows {
        days.push(row?);
    }
    let mut rolled = c.prepare_cached(
        "SELECT day, count, first_ms, last_ms, macs FROM sightings_daily WHERE ip = ?1 AND last_ms >= ?2",
    )?;
    let rows = rolled.query_map(params![ip, since_ms], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Day { count: r.get(1)?, first_ms: r.get(2)?, last_ms: r.get(3)?, macs: macs_of(&r.get::<_, String>(4)?) },
        ))
    })?;
    for row in rows {
        days.push(row?);
    }
    Ok(by_day(days))
}
