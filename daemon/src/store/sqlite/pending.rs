//! Reading back the batches that are stored but not yet reconciled — after
//! a crash, or because agents delivered faster than reconciliation for a
//! while and the in-memory queue was full — in pages of a bounded number of
//! sightings, so a backlog of any size (or one 100,000-host batch) is
//! reconciled in the memory of one run.
//!
//! A batch's observations are found by its range of observation ids
//! (`batches.first_obs..=last_obs`, filtered by batch id, as other batches'
//! parts may interleave). Where the batch is still the host's latest
//! observation, the compact sighting kept in `hosts` is read; otherwise the
//! observation as sent is decoded again and its times bounded as at arrival.

use rusqlite::{Connection, params};

use super::ingest::ms;
use crate::reconcile::{BatchContext, PendingBatch, Sighting};
use crate::store::{BacklogCursor, StoreError};

/// Batches considered per page.
const HEADS: i64 = 64;

type Head = (String, String, String, Option<String>, String, i64, i64, i64, Option<i64>, Option<i64>, i64);

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
    let heads: Vec<Head> = st
        .query_map(params![after.seq, after.obs, HEADS], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut obs = c.prepare_cached(
        "SELECT o.id, o.body, h.sighting FROM observations o
           LEFT JOIN hosts h ON h.ip = o.ip AND h.last_batch = o.batch_id
         WHERE o.id > ?2 AND o.id <= ?3 AND o.batch_id = ?1 ORDER BY o.id LIMIT ?4",
    )?;
    let mut out = Vec::new();
    let mut cursor = after;
    let mut left = budget.max(1);
    for (batch, agent, segment, probed, completeness, started, finished, seq, first, last, hosts) in heads {
        if left == 0 {
            break;
        }
        let from = match (after.obs, first) {
            (Some(o), _) if seq == after.seq => o,
            (_, Some(f)) => f - 1,
            // From before the range was kept: all observations.
            (_, None) => i64::MIN,
        };
        let rows: Vec<(i64, String, Option<String>)> = if first.is_none() && hosts == 0 {
            Vec::new()
        } else {
            let limit = i64::try_from(left + 1).unwrap_or(i64::MAX);
            obs.query_map(params![&batch, from, last.unwrap_or(i64::MAX), limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let more = rows.len() > left;
        let rows = &rows[..rows.len().min(left)];
        left -= rows.len();
        let enriched = serde_json::from_str::<serde_json::Value>(&completeness)
            .ok()
            .and_then(|v| v["enriched"].as_bool())
            .unwrap_or(false);
        let probed: Option<std::sync::Arc<str>> = probed.as_deref().map(std::sync::Arc::from);
        let ctx =
            BatchContext { segment, agent: agent.clone(), batch: batch.clone(), probed: probed.clone(), enriched };
        let decode = |(_, body, latest): &(i64, String, Option<String>)| -> Option<Sighting> {
            if let Some(mut s) = latest.as_deref().and_then(|l| serde_json::from_str::<Sighting>(l).ok()) {
                s.probed = probed.clone();
                return Some(s);
            }
            let mut h = serde_json::from_str::<census_proto::HostObservation>(body).ok()?;
            // The stored batch times are already bounded by arrival; keep the host's inside them.
            let clamp = |t: time::OffsetDateTime| {
                let ms = ms(t).clamp(started, finished);
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(t)
            };
            h.ip = h.ip.to_canonical();
            h.first_seen = clamp(h.first_seen);
            h.last_seen = clamp(h.last_seen);
            Some(Sighting::of(&h, &ctx))
        };
        let sightings = crate::reconcile::parallel_map(rows, decode).into_iter().flatten().collect();
        cursor = BacklogCursor { seq, obs: if more { rows.last().map(|r| r.0) } else { None } };
        out.push(PendingBatch { batch_id: batch, agent, sightings, more });
        if more {
            break;
        }
    }
    Ok((out, cursor))
}
