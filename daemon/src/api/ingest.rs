//! `POST /api/v1/batches`: an agent delivers a sweep.
//!
//! Order of checks: token (401), body size (413, by the router), schema
//! major version (422), well-formedness (400 naming the field), the batch's
//! agent id against the token's (403). Observations outside the agent's
//! segments are rejected and listed in the answer; the rest are stored in
//! one transaction. A resent batch is acknowledged as a duplicate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;

use super::{ApiError, AppState, require_admin, require_agent};
use census_proto::{DecodeError, decode_raw_batch};

use crate::reconcile::Reconciler;
use crate::reconcile::{BatchContext, Sighting};
use crate::store::{AgentRecord, BatchMeta, ObservationRow, Store};

/// An observation the daemon refused.
#[derive(Debug, Serialize)]
pub struct Rejected {
    /// Its address.
    pub ip: String,
    /// Why.
    pub reason: String,
}

/// The answer to a delivered batch.
#[derive(Debug, Serialize)]
pub struct BatchReceipt {
    /// The batch id.
    pub batch_id: String,
    /// Already stored before: acknowledged, not stored again.
    pub duplicate: bool,
    /// Observations stored.
    pub stored: usize,
    /// Hosts whose ports, names, fingerprint or MAC changed.
    pub changed_hosts: usize,
    /// Observations refused.
    pub rejected: Vec<Rejected>,
}

/// Read a request body into one buffer sized from Content-Length, so a
/// large batch is held once (not as chunks plus a contiguous copy); over
/// `limit` bytes is a 413.
async fn collect(mut body: axum::body::Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the limit of {limit} bytes"));
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("reading the body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Take a batch from an agent.
pub async fn post_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<BatchReceipt>, ApiError> {
    let agent = require_agent(&state, &headers).await?;
    let body = collect(body, &headers, state.max_body).await?;
    let store = state.store.clone();
    let reconciler = state.reconciler.clone();
    // Decoding a large batch is CPU work: do it, the scope check, the store
    // and the reconcile on the blocking pool.
    let receipt =
        tokio::task::spawn_blocking(move || accept(store.as_ref(), &reconciler, &agent, &body, crate::store::now_ms()))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??;
    Ok(Json(receipt))
}

/// Decode, scope-check, store and reconcile one batch from `agent`; what
/// the API does with a delivered batch, callable with a chosen `now_ms`.
pub fn accept(
    store: &dyn Store,
    reconciler: &Reconciler,
    agent: &AgentRecord,
    body: &[u8],
    now_ms: i64,
) -> Result<BatchReceipt, ApiError> {
    // Hosts stay slices of `body` throughout.
    let raw = decode_raw_batch(body).map_err(decode_error)?;
    if raw.agent_id.0 != agent.name {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the batch says agent `{}` but the token belongs to `{}`", raw.agent_id, agent.name),
        ));
    }
    let ctx = BatchContext::of(&raw, &agent.name);
    let mut rows = Vec::with_capacity(raw.hosts.len());
    let mut sightings = Vec::with_capacity(raw.hosts.len());
    let mut rejected = Vec::new();
    for (i, slice) in raw.hosts.iter().enumerate() {
        let h = raw.host(i).map_err(decode_error)?;
        if agent.segments.iter().any(|s| s.contains(&h.ip)) {
            let sighting = Sighting::of(&h, &ctx);
            rows.push(ObservationRow::new(&h, slice.get(), &sighting));
            sightings.push(sighting);
        } else {
            rejected.push(Rejected { ip: h.ip.to_string(), reason: "outside the agent's segments".into() });
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(agent = %agent.name, batch = %raw.batch_id, rejected = rejected.len(), "observations outside the agent's segments");
    }
    let meta = BatchMeta::of(&raw);
    let outcome = store.ingest(&meta, &agent.name, &rows).map_err(ApiError::from)?;
    drop(rows);
    tracing::info!(agent = %agent.name, batch = %meta.batch_id, stored = outcome.stored, duplicate = outcome.duplicate, "batch ingested");
    // The batch is stored whatever happens next: a failed reconcile is
    // logged and caught up by the next full run.
    if !outcome.duplicate {
        match reconciler.after_ingest(&sightings, now_ms) {
            Ok(r) => {
                tracing::info!(batch = %meta.batch_id, matched = r.matched, opened = r.opened, resolved = r.resolved, "batch reconciled")
            }
            Err(e) => {
                tracing::error!(batch = %meta.batch_id, error = %e, "reconciling the batch failed; the next full run catches up")
            }
        }
    }
    Ok(BatchReceipt {
        batch_id: meta.batch_id,
        duplicate: outcome.duplicate,
        stored: outcome.stored,
        changed_hosts: outcome.changed_hosts,
        rejected,
    })
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::UnsupportedVersion { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        DecodeError::Malformed { path, message } => {
            ApiError::bad_field(path.clone(), format!("malformed batch at `{path}`: {message}"))
        }
    }
}

/// What is known about one observed address.
pub async fn get_host(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> Result<Json<crate::store::HostRecord>, ApiError> {
    require_admin(&state, &headers)?;
    let ip: std::net::IpAddr =
        ip.parse().map_err(|_| ApiError::bad_field("ip", format!("`{ip}` is not an IP address")))?;
    let key = ip.to_string();
    state.blocking(move |s| s.host(&key)).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("host {ip}")))
}
