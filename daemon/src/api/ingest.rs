//! `POST /api/v1/batches`: an agent delivers a sweep.
//!
//! Order of checks: token (401), body size (413, by the router), schema
//! major version (422), well-formedness (400 naming the field), the batch's
//! agent id against the token's (403). Observations outside the agent's
//! segments are rejected and listed in the answer; the rest are stored in
//! one transaction. A resent batch is acknowledged as a duplicate.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

use super::{ApiError, AppState};
pub use crate::app::ingest::{BatchReceipt, IngestError, Reconcile, accept, accept_with};
use crate::store::AgentRecord;

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Unsupported(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            IngestError::Malformed { ref field, .. } => ApiError::bad_field(field.clone(), e.to_string()),
            IngestError::WrongAgent { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            IngestError::IdTaken(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            IngestError::Store(s) => ApiError::from(s),
        }
    }
}

/// Read a request body into one buffer sized from Content-Length, so a
/// large batch is held once (not as chunks plus a contiguous copy); over
/// `limit` bytes is a 413.
async fn collect(mut body: axum::body::Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the limit of {limit} bytes"));
    let declared = super::body::declared_length(headers);
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

/// Batches larger than this (about 2,000 hosts of fingerprinted, named
/// observations: a sweep larger than an ordinary /21 segment's) are
/// handled on the bulk lane, at background priority.
const LARGE_BATCH_BYTES: usize = 1024 * 1024;

/// Take a batch from an agent.
#[utoipa::path(
    post, path = "/api/v1/batches", tag = "agents",
    description = "An agent delivers a batch of observations (docs/report-format.md); idempotent on the batch id. Needs the agent's token.",
    request_body(content = serde_json::Value, description = "A batch (census-proto `Batch`)", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or a duplicate, acknowledged again): the receipt", body = BatchReceipt),
        (status = 409, description = "The batch id was used by another agent", body = super::openapi::ErrorBody),
        (status = 422, description = "Another major version of the wire model", body = super::openapi::ErrorBody),
        (status = 429, description = "The agent already has as many deliveries in flight as it may; send again after Retry-After", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_batch(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentRecord>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    // Before the body is read: a hostile agent's extra connections cost nothing.
    let metrics = state.reconciler.metrics();
    let Some(_slot) = crate::app::in_flight::InFlight::enter(&state.in_flight, &agent.name) else {
        metrics.batch_refused(crate::metrics::BatchResult::Busy);
        return Ok(ApiError::too_many_requests(
            format!(
                "agent {} already has {} deliveries in flight; keep the batch spooled and send it again",
                agent.name,
                crate::app::in_flight::PER_AGENT
            ),
            1,
        ));
    };
    let body = collect(body, &headers, state.max_body).await.inspect_err(|e| {
        if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            metrics.batch_refused(crate::metrics::BatchResult::TooLarge);
        }
    })?;
    let large = body.len() > LARGE_BATCH_BYTES;
    let store = state.store.clone();
    let reconciler = state.reconciler.clone();
    // Decoding, checking and storing are CPU and disk work: off the async threads.
    let job =
        move || accept_with(store.as_ref(), &reconciler, &agent, &body, crate::store::now_ms(), Reconcile::Queued);
    let receipt = if large {
        // One large batch at a time, at background priority: a flood of them
        // never takes the CPU or the database from other agents' sweeps.
        state.bulk.run(job).await
    } else {
        tokio::task::spawn_blocking(job).await.ok()
    }
    .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))?
    .map_err(ApiError::from)?;
    Ok(Json(receipt).into_response())
}

/// What is known about one observed address.
#[utoipa::path(
    get, path = "/api/v1/hosts/{ip}", tag = "hosts",
    params(("ip" = String, Path, description = "An IPv4 or IPv6 address")),
    responses(
        (status = 200, description = "What is known about the address", body = crate::store::HostRecord),
        (status = 404, description = "Never observed", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_host(
    State(state): State<AppState>,
    _: super::caller::Viewer,
    Path(ip): Path<String>,
) -> Result<Json<crate::store::HostRecord>, ApiError> {
    let ip: std::net::IpAddr =
        ip.parse().map_err(|_| ApiError::bad_field("ip", format!("`{ip}` is not an IP address")))?;
    // An IPv4 address mapped into IPv6 is stored as the IPv4 address.
    let ip = ip.to_canonical();
    let key = ip.to_string();
    state.blocking(move |s| s.host(&key)).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("host {ip}")))
}
