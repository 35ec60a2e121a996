//! Ingest a batch: decode, check ([`crate::ingest::checks`]), store,
//! reconcile what it touched.

use census_proto::{DecodeError, decode_raw_batch};
use serde::Serialize;

use crate::ingest::{Rejected, prepare};
use crate::metrics::BatchResult;
use crate::reconcile::Reconciler;
use crate::store::{AgentRecord, Store, StoreError};

/// The answer to a delivered batch: the agent's receipt. An agent removes
/// a batch from its spool only against a receipt naming that batch id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchReceipt {
    /// The batch id.
    pub batch_id: String,
    /// Already stored before: acknowledged, not stored again.
    pub duplicate: bool,
    /// Observations stored.
    pub stored: usize,
    /// Hosts whose ports, names, fingerprint or MAC changed.
    pub changed_hosts: usize,
    /// The batch was dated in the future and its times were clamped to its arrival.
    pub clamped: bool,
    /// Observations refused.
    pub rejected: Vec<Rejected>,
    /// Observations stored with a part set aside (a group or all-zero
    /// conflicting MAC), each with what; absent when none were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<Rejected>,
    /// `done`, or `queued`: the reconcile worker takes it within moments.
    pub reconcile: &'static str,
}

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Another major version of the wire model.
    #[error("{0}")]
    Unsupported(String),
    /// Malformed, out of range or over a limit.
    #[error("malformed batch at `{field}`: {message}")]
    Malformed {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// The batch names another agent than the token's.
    #[error("the batch says agent `{claimed}` but the token belongs to `{token}`")]
    WrongAgent {
        /// What the batch says.
        claimed: String,
        /// Whose token it is.
        token: String,
    },
    /// The batch id was used by another agent.
    #[error("batch id {0} was already used by another agent")]
    IdTaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

fn decode_error(e: DecodeError) -> IngestError {
    match e {
        DecodeError::UnsupportedVersion { .. } => IngestError::Unsupported(e.to_string()),
        DecodeError::Malformed { path, message } => IngestError::Malformed { field: path, message },
    }
}

/// When a stored batch is reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    /// Before answering (tests, `censusd demo` replays): the receipt's
    /// batch is reconciled when it returns.
    Now,
    /// By the reconcile worker: the receipt answers once the batch is
    /// durably stored (the HTTP API).
    Queued,
}

/// Decode, check, store and reconcile one batch from `agent` arriving at `now_ms`.
///
/// # Errors
/// See [`IngestError`]; nothing is stored when the batch is refused.
pub fn accept(
    store: &dyn Store,
    reconciler: &Reconciler,
    agent: &AgentRecord,
    body: &[u8],
    now_ms: i64,
) -> Result<BatchReceipt, IngestError> {
    accept_with(store, reconciler, agent, body, now_ms, Reconcile::Now)
}

/// [`accept`], reconciling now or by the queue.
///
/// # Errors
/// See [`IngestError`]; nothing is stored when the batch is refused.
pub fn accept_with(
    store: &dyn Store,
    reconciler: &Reconciler,
    agent: &AgentRecord,
    body: &[u8],
    now_ms: i64,
    when: Reconcile,
) -> Result<BatchReceipt, IngestError> {
    let t0 = std::time::Instant::now();
    let r = stored(store, reconciler, agent, body, now_ms, when, t0);
    let metrics = reconciler.metrics();
    match &r {
        Ok((receipt, elapsed)) => metrics.batch(
            if receipt.duplicate { BatchResult::Duplicate } else { BatchResult::Stored },
            *elapsed,
            receipt.stored,
            receipt.rejected.len(),
        ),
        Err(e) => metrics.batch(
            match e {
                IngestError::Unsupported(_) => BatchResult::Unsupported,
                IngestError::Malformed { .. } => BatchResult::Malformed,
                IngestError::WrongAgent { .. } => BatchResult::WrongAgent,
                IngestError::IdTaken(_) => BatchResult::IdTaken,
                IngestError::Store(_) => BatchResult::StoreError,
            },
            t0.elapsed(),
            0,
            0,
        ),
    }
    r.map(|(receipt, _)| receipt)
}

/// [`accept_with`] without the metrics; also says how long decoding,
/// checking and storing took (the reconcile not included).
fn stored(
    store: &dyn Store,
    reconciler: &Reconciler,
    agent: &AgentRecord,
    body: &[u8],
    now_ms: i64,
    when: Reconcile,
    t0: std::time::Instant,
) -> Result<(BatchReceipt, std::time::Duration), IngestError> {
    // Hosts stay slices of `body` throughout.
    let raw = decode_raw_batch(body).map_err(decode_error)?;
    let t_raw = t0.elapsed();
    if raw.agent_id.0 != agent.name {
        return Err(IngestError::WrongAgent { claimed: raw.agent_id.0.clone(), token: agent.name.clone() });
    }
    let prepared =
        prepare(&raw, agent, now_ms).map_err(|r| IngestError::Malformed { field: r.field, message: r.message })?;
    if !prepared.rejected.is_empty() {
        tracing::warn!(agent = %agent.name, batch = %raw.batch_id, rejected = prepared.rejected.len(), "observations refused");
    }
    if !prepared.set_aside.is_empty() {
        tracing::warn!(agent = %agent.name, batch = %raw.batch_id, hosts = prepared.set_aside.len(), "parts of observations set aside");
    }
    let meta = prepared.meta;
    let t1 = std::time::Instant::now();
    let outcome = match store.ingest(&meta, &agent.name, &prepared.rows) {
        Ok(o) => o,
        Err(StoreError::Conflict(_)) => return Err(IngestError::IdTaken(meta.batch_id)),
        Err(e) => return Err(IngestError::Store(e)),
    };
    drop(prepared.rows);
    let t2 = std::time::Instant::now();
    tracing::info!(
        agent = %agent.name,
        batch = %meta.batch_id,
        stored = outcome.stored,
        duplicate = outcome.duplicate,
        clamped = meta.clamped,
        decode_ms = (t1 - t0).as_secs_f64() * 1000.0,
        raw_ms = t_raw.as_secs_f64() * 1000.0,
        store_ms = (t2 - t1).as_secs_f64() * 1000.0,
        "batch ingested"
    );
    // The batch is stored whatever happens next: a failed reconcile is
    // logged, and the batch (unmarked in the store) is reconciled at the next start.
    if !outcome.duplicate {
        let pending = crate::reconcile::PendingBatch {
            batch_id: meta.batch_id.clone(),
            agent: agent.name.clone(),
            sightings: prepared.sightings,
            more: false,
        };
        match when {
            Reconcile::Queued => reconciler.enqueue(pending),
            Reconcile::Now => {
                reconciler.enqueue(pending);
                match reconciler.drain(now_ms) {
                    Ok(r) => tracing::info!(
                        batch = %meta.batch_id,
                        matched = r.matched,
                        opened = r.opened,
                        resolved = r.resolved,
                        reconcile_ms = t2.elapsed().as_secs_f64() * 1000.0,
                        "batch reconciled"
                    ),
                    Err(e) => {
                        tracing::error!(batch = %meta.batch_id, error = %e, "reconciling the batch failed; it is reconciled at the next start")
                    }
                }
            }
        }
    }
    Ok((
        BatchReceipt {
            batch_id: meta.batch_id,
            duplicate: outcome.duplicate,
            stored: outcome.stored,
            changed_hosts: outcome.changed_hosts,
            clamped: meta.clamped,
            rejected: prepared.rejected,
            set_aside: prepared.set_aside,
            reconcile: if outcome.duplicate || when == Reconcile::Now { "done" } else { "queued" },
        },
        t2 - t0,
    ))
}
