//! Agent management for operators: add (the token is returned once), list, revoke.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::caller::{Admin, Viewer};
use super::error::{json_body, optional_json_body};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::store::{AgentRecord, now_ms};

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
    let req: NewAgent = json_body(&body)?;
    let (name, token) = state
        .run(move |r| crate::app::agents::add(r.store().as_ref(), &who, &req.name, &req.segments, now_ms()))
        .await?;
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
    let req: Rotation = optional_json_body(&body)?;
    let n = name.clone();
    let token = state
        .run(move |r| crate::app::agents::rotate_token(r.store().as_ref(), &who, &n, req.overlap.as_deref(), now_ms()))
        .await?;
    Ok(Json(AgentToken { name, token }))
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
    state.run(move |r| crate::app::agents::revoke(r.store().as_ref(), &who, &name, now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}
