//! Reading back the batches that are stored but not yet reconciled, in
//! pages of a bounded number of sightings (see `store/sqlite/pending.rs`):
//! what both backends do around their two queries — which batches, and a
//! batch's observations by id.
//!
//! A batch's observations are found by its range of observation ids
//! (`batches.first_obs..=last_obs`, filtered by batch id, as other batches'
//! parts may interleave). Where the batch is still the host's latest
//! observation, the compact sighting kept in `hosts` is read; otherwise the
//! observation as sent is decoded again and its times bounded as at arrival.

use std::sync::Arc;

use crate::ingest::ms;
use crate::reconcile::{BatchContext, PendingBatch, Sighting};
use crate::store::{BacklogCursor, StoreError};

/// Batches a backend reads per page at most (the heads it passes to [`pending`]).
pub const PENDING_HEADS: i64 = 64;

/// A stored, unreconciled batch as the backlog reads it (`batches` columns).
#[derive(Debug, Clone)]
pub struct PendingHead {
    /// Batch id.
    pub batch_id: String,
    /// Agent that delivered it.
    pub agent: String,
    /// Segment name.
    pub segment: String,
    /// Ports its complete TCP sweep probed, compact.
    pub probed: Option<String>,
    /// Completeness as JSON.
    pub completeness: String,
    /// Sweep start and end (unix ms, bounded by arrival).
    pub started_ms: i64,
    /// See `started_ms`.
    pub finished_ms: i64,
    /// Arrival sequence.
    pub seq: i64,
    /// Its first and last observation ids (absent before the range was kept).
    pub first_obs: Option<i64>,
    /// See `first_obs`.
    pub last_obs: Option<i64>,
    /// Observations accepted.
    pub hosts: i64,
}

/// One observation of a pending batch: its id, the observation as sent,
/// and the host's compact sighting when this batch is still the host's latest.
pub type PendingRow = (i64, String, Option<String>);

/// The next page of the backlog after `after` from `heads` (the stored,
/// unreconciled batches with a later `seq`, or the same with `after.obs`
/// set, by `seq`, at most [`PENDING_HEADS`]): batches (the last one perhaps
/// in part, `more` set) holding at most `budget` sightings, and the cursor
/// to read on from. `rows(batch, after_id, last_id, limit)` reads up to
/// `limit` of a batch's observations with ids in `after_id+1..=last_id`, by id.
///
/// # Errors
/// What `rows` returns.
pub fn pending(
    heads: Vec<PendingHead>,
    after: BacklogCursor,
    budget: usize,
    mut rows: impl FnMut(&str, i64, i64, i64) -> Result<Vec<PendingRow>, StoreError>,
) -> Result<(Vec<PendingBatch>, BacklogCursor), StoreError> {
    let mut out = Vec::new();
    let mut cursor = after;
    let mut left = budget.max(1);
    for head in heads {
        if left == 0 {
            break;
        }
        let from = match (after.obs, head.first_obs) {
            (Some(o), _) if head.seq == after.seq => o,
            (_, Some(f)) => f - 1,
            // From before the range was kept: all observations.
            (_, None) => i64::MIN,
        };
        let read = if head.first_obs.is_none() && head.hosts == 0 {
            Vec::new()
        } else {
            let limit = i64::try_from(left + 1).unwrap_or(i64::MAX);
            rows(&head.batch_id, from, head.last_obs.unwrap_or(i64::MAX), limit)?
        };
        let more = read.len() > left;
        let read = &read[..read.len().min(left)];
        left -= read.len();
        let sightings = sightings(&head, read);
        cursor = BacklogCursor { seq: head.seq, obs: if more { read.last().map(|r| r.0) } else { None } };
        out.push(PendingBatch { batch_id: head.batch_id, agent: head.agent, sightings, more });
        if more {
            break;
        }
    }
    Ok((out, cursor))
}

/// The sightings of a batch's observations (on every core for many); those that do not decode are left out.
fn sightings(head: &PendingHead, rows: &[PendingRow]) -> Vec<Sighting> {
    let enriched = serde_json::from_str::<serde_json::Value>(&head.completeness)
        .ok()
        .and_then(|v| v["enriched"].as_bool())
        .unwrap_or(false);
    let probed: Option<Arc<str>> = head.probed.as_deref().map(Arc::from);
    let ctx = BatchContext {
        segment: head.segment.clone(),
        agent: head.agent.clone(),
        batch: head.batch_id.clone(),
        probed: probed.clone(),
        enriched,
    };
    let (started, finished) = (head.started_ms, head.finished_ms);
    let decode = |(_, body, latest): &PendingRow| -> Option<Sighting> {
        if let Some(mut s) = latest.as_deref().and_then(|l| serde_json::from_str::<Sighting>(l).ok()) {
            s.probed = probed.clone();
            return Some(s);
        }
        let mut h = serde_json::from_str::<census_proto::HostObservation>(body).ok()?;
        // The stored batch times are already bounded by arrival; keep the
        // host's inside them (`clamp` would panic on a row whose start is after its end).
        let clamp = |t: time::OffsetDateTime| {
            let ms = ms(t).max(started).min(finished);
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(t)
        };
        h.ip = h.ip.to_canonical();
        h.first_seen = clamp(h.first_seen);
        h.last_seen = clamp(h.last_seen);
        Some(Sighting::of(&h, &ctx))
    };
    crate::reconcile::parallel_filter_map(rows, decode)
}
