//! Coverage sources over HTTP: list them, define one, load its export.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::caller::{Admin, Viewer};
use super::error::json_body;
use super::{ApiError, AppState};
use crate::app::sources::{LoadOutcome, SourceSummary};
use crate::sources::SourceDef;
use crate::store::now_ms;

/// Every coverage source with its last load (not the records).
#[utoipa::path(
    get, path = "/api/v1/sources", tag = "sources",
    responses((status = 200, description = "The sources", body = Vec<SourceSummary>))
)]
pub async fn list(State(state): State<AppState>, _: Viewer) -> Result<Json<Vec<SourceSummary>>, ApiError> {
    Ok(Json(state.run(|r| crate::app::sources::list(r, now_ms())).await?))
}

/// Define a coverage source, or change its definition (its list is kept).
#[utoipa::path(
    put, path = "/api/v1/sources/{name}", tag = "sources",
    params(("name" = String, Path, description = "Source name: 1-40 of a-z, 0-9, - and _")),
    request_body = SourceDef,
    responses(
        (status = 200, description = "The source", body = SourceSummary),
        (status = 400, description = "Each problem with the definition, by field", body = super::openapi::ErrorBody),
    )
)]
pub async fn define(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<SourceSummary>, ApiError> {
    let mut def: SourceDef = json_body(&body)?;
    if def.name.is_empty() {
        def.name.clone_from(&name);
    } else if def.name != name {
        return Err(ApiError::bad_field("name", format!("the body names `{}`, the path `{name}`", def.name)));
    }
    Ok(Json(state.run(move |r| crate::app::sources::define(r, &who, def, now_ms())).await?))
}

/// Options of a load.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadQuery {
    /// Only say what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// Load a coverage source's export (CSV or JSON as the source is defined),
/// replacing its list whole; nothing is stored if any row is bad.
#[utoipa::path(
    post, path = "/api/v1/sources/{name}/load", tag = "sources",
    params(("name" = String, Path, description = "Source name"), LoadQuery),
    request_body(description = "The other tool's export, as the source's format says",
        content((Vec<serde_json::Value> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, description = "What the load changed", body = LoadOutcome),
        (status = 400, description = "Every problem by row and column; nothing stored", body = super::openapi::ErrorBody),
        (status = 404, description = "No such source", body = super::openapi::ErrorBody),
    )
)]
pub async fn load(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
    Query(q): Query<LoadQuery>,
    body: Bytes,
) -> Result<Json<LoadOutcome>, ApiError> {
    let dry_run = q.dry_run;
    Ok(Json(state.run(move |r| crate::app::sources::load(r, &who, &name, &body, dry_run, now_ms())).await?))
}

/// Remove a coverage source and its list; its alerts resolve at the next full reconcile.
#[utoipa::path(
    delete, path = "/api/v1/sources/{name}", tag = "sources",
    params(("name" = String, Path, description = "Source name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such source", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let n = name.clone();
    if state.run(move |r| crate::app::sources::remove(r, &who, &n, now_ms())).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("coverage source `{name}`")))
    }
}
