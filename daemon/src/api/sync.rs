//! Register sync over HTTP: `POST /api/v1/sync/{system}` reads Snipe-IT or
//! NetBox as `[sync.*]` configures it and answers with the plan (applied
//! unless `dry_run`).

use axum::Json;
use axum::extract::{Path, Query, State};

use super::caller::Admin;
use super::directory::SyncQuery;
use super::{ApiError, AppState};
use crate::app::sync::SyncPlan;
use crate::connectors::sync::System;

/// Sync the register with Snipe-IT or NetBox.
#[utoipa::path(
    post, path = "/api/v1/sync/{system}", tag = "register", params(
        ("system" = String, Path, description = "`snipeit` or `netbox`", pattern = "^(snipeit|netbox)$"),
        SyncQuery,
    ),
    responses(
        (status = 200, description = "The plan (applied unless `dry_run`)", body = SyncPlan),
        (status = 404, description = "Not a system Census syncs with", body = super::openapi::ErrorBody),
        (status = 409, description = "The system is not configured, its token file is unusable, or its answer \
            is not to be trusted as a whole (no records while assets are linked, too many retired at once); \
            nothing changed", body = super::openapi::ErrorBody),
        (status = 502, description = "The system failed, refused the token or answered what its API does not \
            document; nothing changed", body = super::openapi::ErrorBody),
    )
)]
pub async fn sync(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(system): Path<String>,
    Query(q): Query<SyncQuery>,
) -> Result<Json<SyncPlan>, ApiError> {
    let system = System::parse(&system).map_err(|m| ApiError::new(axum::http::StatusCode::NOT_FOUND, m))?;
    let Some(cfg) = state.sync.get(system).cloned() else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "{} is not configured: add [sync.{}] to the daemon's configuration",
                system.title(),
                system.as_str()
            ),
        ));
    };
    // The sync runs on a task of its own: a caller that stops waiting (a
    // client timeout during a long, rate-limited read) does not cancel it
    // half way, and what it applies is applied whole.
    let reconciler = state.reconciler.clone();
    let task = tokio::spawn(async move { crate::app::sync::run(reconciler, &cfg, (q.dry_run, q.force), who).await });
    let plan = task
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("the sync failed: {e}")))??;
    Ok(Json(plan))
}
