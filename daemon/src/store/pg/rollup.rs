//! PostgreSQL: rolling raw observations up into daily summaries (bounded
//! history; `store/sqlite/rollup.rs` says what is kept raw and why, the
//! summing is shared, `store::shared::rollup`).
//!
//! A batch is rolled up in parts of at most [`PART`] observations, each its
//! own transaction: the part's observations are read by id range, summed
//! per address and day in memory, deleted with one statement, and their
//! days merged into `sightings_daily` with one read and one upsert; the
//! batch records how far it got (`rolled_to`), so a failure resumes there.

use std::collections::HashMap;

use postgres::types::Type;

use super::Tx;
use crate::store::shared::rollup::{Day, PART, Part, RawRow, by_day, fold, macs_of};
use crate::store::{DaySightings, StoreError};

/// After a roll-up pass: vacuum the tables it deleted from and those every
/// sweep updates, so the space of the rows rolled up (and of hosts' earlier
/// versions) is reused by the next sweeps at once rather than when
/// autovacuum next gets to them — under a steady sweep cadence the database
/// stops growing after the retention period (issue #15; the `week`
/// benchmark measures it). `SKIP_LOCKED` leaves a table autovacuum is
/// working on to it. Plain `VACUUM` takes no lock that stops ingest or
/// reads. A failure is logged: the next pass, or autovacuum, does it.
pub(super) fn vacuum(store: &super::PostgresStore) {
    let started = std::time::Instant::now();
    match store.autocommit("VACUUM (SKIP_LOCKED, ANALYZE) observations, sightings_daily, hosts, asset_state") {
        Ok(()) => tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "vacuumed after a roll-up"),
        Err(e) => tracing::warn!(error = %e, "vacuum after a roll-up failed; autovacuum will do it"),
    }
}

/// Roll up one part of the oldest batch that ended before `before_ms` and
/// is stored and reconciled.
///
/// # Errors
/// The store failed; the caller's transaction rolls back whole.
pub(super) fn part(tx: &mut Tx<'_>, before_ms: i64) -> Result<Part, StoreError> {
    let next = tx.query_typed_opt(
        "SELECT batch_id, first_obs, last_obs, rolled_to FROM batches
         WHERE rolled_up = 0 AND finished_ms < $1 AND receiving = 0 AND reconciled = 1
         ORDER BY finished_ms LIMIT 1",
        &[(&before_ms, Type::INT8)],
    )?;
    let Some(next) = next else { return Ok(None) };
    let batch: String = next.get(0);
    let (first, last, rolled_to): (Option<i64>, Option<i64>, Option<i64>) = (next.get(1), next.get(2), next.get(3));
    let (Some(lo), Some(hi)) = (first, last) else {
        // A batch without observations (an empty sweep): nothing to fold.
        tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = $1", &[&batch])?;
        return Ok(Some((0, true)));
    };
    let from = rolled_to.map_or(lo, |r| r + 1);
    let rows: Vec<RawRow> = tx
        .query_typed(
            "SELECT o.id, o.ip, o.mac, o.seen_ms, coalesce(h.latest_obs = o.id, false) FROM observations o
               LEFT JOIN hosts h ON h.ip = o.ip
             WHERE o.id BETWEEN $1 AND $2 AND o.batch_id = $3 ORDER BY o.id LIMIT $4",
            &[(&from, Type::INT8), (&hi, Type::INT8), (&batch, Type::TEXT), (&(PART as i64), Type::INT8)],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let (days, ids) = fold(&rows);
    if !ids.is_empty() {
        tx.execute_typed("DELETE FROM observations WHERE id = ANY($1)", &[(&ids, Type::INT8_ARRAY)])?;
    }
    merge_days(tx, days)?;
    let done = rows.len() < PART;
    match rows.last() {
        Some((id, ..)) if !done => {
            tx.execute("UPDATE batches SET rolled_to = $2 WHERE batch_id = $1", &[&batch, id])?;
        }
        _ => {
            tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = $1", &[&batch])?;
        }
    }
    Ok(Some((ids.len() as u64, done)))
}

/// Add a part's days to the rolled-up ones: one read of those stored, one upsert.
fn merge_days(tx: &mut Tx<'_>, days: HashMap<(String, i64), Day>) -> Result<(), StoreError> {
    if days.is_empty() {
        return Ok(());
    }
    let (ips, day_nums): (Vec<&str>, Vec<i64>) = days.keys().map(|(ip, day)| (ip.as_str(), *day)).unzip();
    let stored = tx.query_typed(
        "SELECT d.ip, d.day, d.count, d.first_ms, d.last_ms, d.macs FROM sightings_daily d
           JOIN UNNEST($1, $2) AS k(ip, day) ON d.ip = k.ip AND d.day = k.day",
        &[(&ips, Type::TEXT_ARRAY), (&day_nums, Type::INT8_ARRAY)],
    )?;
    let mut totals: HashMap<(String, i64), Day> = stored
        .iter()
        .map(|r| {
            let macs: String = r.get(5);
            ((r.get(0), r.get(1)), Day { count: r.get(2), first_ms: r.get(3), last_ms: r.get(4), macs: macs_of(&macs) })
        })
        .collect();
    let merged: Vec<((String, i64), Day)> = days
        .into_iter()
        .map(|(key, sum)| {
            let mut total = totals.remove(&key).unwrap_or_default();
            total.merge(sum);
            (key, total)
        })
        .collect();
    let ips: Vec<&str> = merged.iter().map(|((ip, _), _)| ip.as_str()).collect();
    let day_nums: Vec<i64> = merged.iter().map(|((_, day), _)| *day).collect();
    let counts: Vec<i64> = merged.iter().map(|(_, d)| d.count).collect();
    let firsts: Vec<i64> = merged.iter().map(|(_, d)| d.first_ms).collect();
    let lasts: Vec<i64> = merged.iter().map(|(_, d)| d.last_ms).collect();
    let macs: Vec<String> = merged.iter().map(|(_, d)| d.macs_json()).collect();
    tx.execute_typed(
        "INSERT INTO sightings_daily (ip, day, count, first_ms, last_ms, macs) SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6)
         ON CONFLICT (ip, day) DO UPDATE SET count = excluded.count, first_ms = excluded.first_ms,
           last_ms = excluded.last_ms, macs = excluded.macs",
        &[
            (&ips, Type::TEXT_ARRAY),
            (&day_nums, Type::INT8_ARRAY),
            (&counts, Type::INT8_ARRAY),
            (&firsts, Type::INT8_ARRAY),
            (&lasts, Type::INT8_ARRAY),
            (&macs, Type::TEXT_ARRAY),
        ],
    )?;
    Ok(())
}

/// `ip`'s sightings per UTC day since `since_ms`, newest day first: the
/// raw observations' days merged with the rolled-up ones. A rolled-up day
/// counts whole when its last sighting is at or after `since_ms`.
///
/// # Errors
/// The store failed.
pub(super) fn sightings_by_day(tx: &mut Tx<'_>, ip: &str, since_ms: i64) -> Result<Vec<DaySightings>, StoreError> {
    let raw = tx.query_typed(
        "SELECT seen_ms / 86400000, count(*), min(seen_ms), max(seen_ms),
           array_agg(DISTINCT mac) FILTER (WHERE mac IS NOT NULL)
         FROM observations WHERE ip = $1 AND seen_ms >= $2 GROUP BY seen_ms / 86400000",
        &[(&ip, Type::TEXT), (&since_ms, Type::INT8)],
    )?;
    let rolled = tx.query_typed(
        "SELECT day, count, first_ms, last_ms, macs FROM sightings_daily WHERE ip = $1 AND last_ms >= $2",
        &[(&ip, Type::TEXT), (&since_ms, Type::INT8)],
    )?;
    let raw_days = raw.iter().map(|r| {
        let macs: Option<Vec<String>> = r.get(4);
        let day = Day {
            count: r.get(1),
            first_ms: r.get(2),
            last_ms: r.get(3),
            macs: macs.unwrap_or_default().into_iter().collect(),
        };
        (r.get::<_, i64>(0), day)
    });
    let rolled_days = rolled.iter().map(|r| {
        let macs: String = r.get(4);
        (r.get::<_, i64>(0), Day { count: r.get(1), first_ms: r.get(2), last_ms: r.get(3), macs: macs_of(&macs) })
    });
    Ok(by_day(raw_days.chain(rolled_days)))
}
