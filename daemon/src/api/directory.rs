//! The people directory over HTTP: list and export, import a file, sync
//! from LDAP. Imports and syncs answer with their plan (applied unless
//! `dry_run`); everything is all-or-nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::caller::{Admin, Viewer};
use super::{ApiError, AppState};
use crate::directory::DirectoryEntry;
use crate::directory::plan::DirectoryPlan;

/// Import options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `csv` or `json` (default `json`).
    #[param(value_type = Option<String>, pattern = "^(csv|json)$")]
    pub format: Option<String>,
    /// Only say what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// CSV field delimiter, one ASCII character (default `,`).
    #[param(value_type = Option<String>, pattern = "^([ !#-~]|tab|\\\\t)$")]
    pub delimiter: Option<String>,
}

/// The directory: every person and team, by id (`format=csv` for a spreadsheet).
#[utoipa::path(
    get, path = "/api/v1/people", tag = "people", params(ImportQuery),
    responses((status = 200, description = "The directory",
        content((Vec<DirectoryEntry> = "application/json"), (String = "text/csv"))))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Viewer,
    Query(q): Query<ImportQuery>,
) -> Result<Response, ApiError> {
    let format = super::assets::parse_format(q.format.as_deref(), q.delimiter.as_deref())?;
    let entries = state.run(crate::app::directory::list).await?;
    Ok(match format {
        crate::register::csv::Format::Csv(_) => {
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], crate::directory::file::to_csv(&entries))
                .into_response()
        }
        crate::register::csv::Format::Json => Json(entries).into_response(),
    })
}

/// Import a directory file (an HR or identity export); nothing is stored if any row is bad.
#[utoipa::path(
    post, path = "/api/v1/people/import", tag = "people", params(ImportQuery),
    request_body(description = "JSON (`format=json`, the default): an array of people, whole or the fields to \
        change; CSV (`format=csv`): one per row under a header naming the columns (id, kind, name, email, team, \
        manager, status, left_on)",
        content((Vec<serde_json::Value> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, description = "The plan (applied unless `dry_run`)", body = DirectoryPlan),
        (status = 400, description = "Rows that are wrong, each named", body = super::openapi::ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Json<DirectoryPlan>, ApiError> {
    let format = super::assets::parse_format(q.format.as_deref(), q.delimiter.as_deref())?;
    let dry_run = q.dry_run;
    let plan = state.run(move |r| crate::app::directory::import(r, &body, format, dry_run, &who)).await?;
    Ok(Json(plan))
}

/// Sync options (the LDAP directory's and the register's).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// Only say what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// Apply even when more than a tenth of what the sync keeps would go at
    /// once: people marked left, or assets tagged retired in the source.
    #[serde(default)]
    pub force: bool,
}

/// Sync the directory from the configured LDAP server (`[people.ldap]`).
#[utoipa::path(
    post, path = "/api/v1/people/sync/ldap", tag = "people", params(SyncQuery),
    responses(
        (status = 200, description = "The plan (applied unless `dry_run`)", body = DirectoryPlan),
        (status = 409, description = "No LDAP source is configured, or the search found nobody while earlier \
            syncs did (nothing is marked left)", body = super::openapi::ErrorBody),
        (status = 502, description = "The LDAP server failed or its answer was incomplete; nothing written",
            body = super::openapi::ErrorBody),
    )
)]
pub async fn sync_ldap(
    State(state): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<SyncQuery>,
) -> Result<Json<DirectoryPlan>, ApiError> {
    let Some(cfg) = state.ldap.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no LDAP source is configured: add [people.ldap] to the daemon's configuration",
        ));
    };
    Ok(Json(crate::app::directory::sync_from(state.reconciler.clone(), &cfg, (q.dry_run, q.force), who).await?))
}
