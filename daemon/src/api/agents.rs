//! Agent management for operators: add (the token is returned once), list, revoke.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::caller::{Admin, Viewer};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::store::AgentRecord;

/// Request to add an agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// Its name (the agent's `agent.id`).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// Segments its observations must fall in (CIDRs).
    #[schema(min_items = 1)]
    pub segments: Vec<String>,
}

/// The new agent's token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentToken {
    /// Name.
    pub name: String,
    /// Bearer token; stored only as a hash.
    pub token: String,
}

/// Add an agent.
#[utoipa::path(
    post, path = "/api/v1/agents", tag = "agents",
    request_body(content = NewAgent, content_type = "application/json"),
    responses(
        (status = 201, description = "Added; the token is shown this once", body = AgentToken),
        (status = 409, description = "An agent of that name exists", body = super::openapi::ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    Admin(who): Admin,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<AgentToken>), ApiError> {
    let req: NewAgent = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
        .map_err(|e| ApiError::bad_field(e.path().to_string(), e.into_inner().to_string()))?;
    let name = req.name.trim().to_string();
    if let Some(problem) = crate::register::ident::ident_problem("agent name", &name, "") {
        return Err(ApiError::bad_field("name", &problem));
    }
    if req.segments.is_empty() {
        return Err(ApiError::bad_field("segments", "at least one CIDR is needed"));
    }
    let mut segments = Vec::new();
    for (i, s) in req.segments.iter().enumerate() {
        let net: IpNet = s
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_field(format!("segments[{i}]"), format!("`{s}` is not a CIDR")))?;
        segments.push(net.trunc());
    }
    let (token, hash) = crate::auth::new_token().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let n = name.clone();
    state.blocking(move |s| crate::app::agents::add(s, &who, &n, &segments, &hash, crate::store::now_ms())).await?;
    tracing::info!(agent = %name, "agent added");
    Ok((StatusCode::CREATED, Json(AgentToken { name, token })))
}

/// Body of a rotation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the current token keeps working beside the new one, e.g. `1h` (default: not at all).
    #[serde(default)]
    pub overlap: Option<String>,
}

/// Give an agent a new token (revoked agents too: a compromised agent is
/// rotated, not renamed, so its spooled batches still deliver).
#[utoipa::path(
    post, path = "/api/v1/agents/{name}/rotate", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    request_body(content = Option<Rotation>, content_type = "application/json", description = "Optional: `{}` or no body for no overlap"),
    responses(
        (status = 200, description = "The new token, shown this once", body = AgentToken),
        (status = 404, description = "No such agent", body = super::openapi::ErrorBody),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<AgentToken>, ApiError> {
    let req: Rotation = if body.is_empty() {
        Rotation::default()
    } else {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
            .map_err(|e| ApiError::bad_field(e.path().to_string(), e.into_inner().to_string()))?
    };
    let overlap = match req.overlap.as_deref() {
        None => std::time::Duration::ZERO,
        Some(o) => census_proto::config::parse_duration(std::path::Path::new("request"), "overlap", o)
            .map_err(|e| ApiError::bad_field("overlap", e.message))?,
    };
    if overlap > std::time::Duration::from_secs(30 * 86_400) {
        return Err(ApiError::bad_field("overlap", "at most 30 days"));
    }
    let (token, hash) = crate::auth::new_token().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let until = crate::store::now_ms() + overlap.as_millis() as i64;
    let n = name.clone();
    if state.blocking(move |s| crate::app::agents::rotate(s, &who, &n, &hash, until, crate::store::now_ms())).await? {
        tracing::warn!(agent = %name, overlap_s = overlap.as_secs(), "agent token rotated");
        Ok(Json(AgentToken { name, token }))
    } else {
        Err(ApiError::not_found(format!("agent `{name}`")))
    }
}

/// `GET /api/v1/agents?limit=&cursor=`: agents by name.
#[utoipa::path(
    get, path = "/api/v1/agents", tag = "agents", params(PageQuery),
    responses((status = 200, description = "Agents by name (one page)", body = Vec<AgentRecord>))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let agents: Vec<AgentRecord> = state.blocking(|s| s.agents()).await?;
    paging::paged(&uri, &q, "agent", agents, |a| a.name.clone())
}

/// Revoke an agent's token.
#[utoipa::path(
    delete, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such agent", body = super::openapi::ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let n = name.clone();
    if state.blocking(move |s| crate::app::agents::revoke(s, &who, &n, crate::store::now_ms())).await? {
        tracing::warn!(agent = %name, "agent token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("active agent `{name}`")))
    }
}
