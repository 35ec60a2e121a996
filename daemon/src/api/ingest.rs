//! `POST /api/v1/batches`: an agent delivers a sweep.
//!
//! Order of checks: token (401), body size (413, by the router), schema
//! major version (422), well-formedness (400 naming the field), the batch's
//! agent id against the token's (403). Observations outside the agent's
//! segments are rejected and listed in the answer; the rest are stored in
//! one transaction. A resent batch is acknowledged as a duplicate.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::{ApiError, AppState, require_admin, require_agent};
use census_proto::{DecodeError, decode_batch};

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

/// Take a batch from an agent.
pub async fn post_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BatchReceipt>, ApiError> {
    let agent = require_agent(&state, &headers).await?;
    let batch = decode_batch(&body).map_err(|e| match e {
        DecodeError::UnsupportedVersion { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        DecodeError::Malformed { path, message } => {
            ApiError::bad_field(path.clone(), format!("malformed batch at `{path}`: {message}"))
        }
    })?;
    if batch.agent_id.0 != agent.name {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the batch says agent `{}` but the token belongs to `{}`", batch.agent_id, agent.name),
        ));
    }
    let mut accepted = Vec::with_capacity(batch.hosts.len());
    let mut rejected = Vec::new();
    for (i, h) in batch.hosts.iter().enumerate() {
        if agent.segments.iter().any(|s| s.contains(&h.ip)) {
            accepted.push(i);
        } else {
            rejected.push(Rejected { ip: h.ip.to_string(), reason: "outside the agent's segments".into() });
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(agent = %agent.name, batch = %batch.batch_id, rejected = rejected.len(), "observations outside the agent's segments");
    }
    let agent_name = agent.name.clone();
    let batch_id = batch.batch_id.to_string();
    let outcome = state.blocking(move |s| s.ingest(&batch, &agent_name, &accepted)).await?;
    tracing::info!(agent = %agent.name, batch = %batch_id, stored = outcome.stored, duplicate = outcome.duplicate, "batch ingested");
    Ok(Json(BatchReceipt {
        batch_id,
        duplicate: outcome.duplicate,
        stored: outcome.stored,
        changed_hosts: outcome.changed_hosts,
        rejected,
    }))
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
