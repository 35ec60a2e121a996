//! Licences over HTTP: the entitlements (list, import with a plan) and the
//! licence report.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};

use super::caller::{Admin, Viewer};
use super::directory::ImportQuery;
use super::{ApiError, AppState};
use crate::licences::Entitlement;
use crate::licences::file::EntitlementPlan;
use crate::licences::usage::LicenceReport;
use crate::store::now_ms;

/// Every entitlement, by id.
#[utoipa::path(
    get, path = "/api/v1/licences", tag = "licences",
    responses((status = 200, description = "The entitlements", body = Vec<Entitlement>))
)]
pub async fn list(State(state): State<AppState>, _: Viewer) -> Result<Json<Vec<Entitlement>>, ApiError> {
    Ok(Json(state.run(crate::app::licences::list).await?))
}

/// Import entitlements; nothing is stored if any row is bad.
#[utoipa::path(
    post, path = "/api/v1/licences/import", tag = "licences", params(ImportQuery),
    request_body(description = "JSON (`format=json`, the default): an array of entitlements, whole or the fields to \
        change; CSV (`format=csv`): one per row under a header naming the columns (id, product, vendor, metric, \
        seats, cost, currency, expires, renews, detect)",
        content((Vec<serde_json::Value> = "application/json"), (String = "text/csv"))),
    responses((status = 200, description = "The plan (applied unless `dry_run`)", body = EntitlementPlan))
)]
pub async fn import(
    State(state): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Json<EntitlementPlan>, ApiError> {
    let format = super::assets::parse_format(q.format.as_deref(), q.delimiter.as_deref())?;
    let dry_run = q.dry_run;
    Ok(Json(state.run(move |r| crate::app::licences::import(r, &body, format, dry_run, &who)).await?))
}

/// The licence report: per product seats owned against assets running it,
/// the assets over, entitlements nobody uses, renewals in the next 90 days.
#[utoipa::path(
    get, path = "/api/v1/licences/report", tag = "licences",
    responses((status = 200, description = "The report", body = LicenceReport))
)]
pub async fn report(State(state): State<AppState>, _: Viewer) -> Result<Json<LicenceReport>, ApiError> {
    Ok(Json(state.run(|r| crate::app::licences::report(r, now_ms())).await?))
}
