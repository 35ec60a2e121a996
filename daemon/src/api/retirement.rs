//! Lifecycle checklists over HTTP: every retired asset's checklist (the
//! retirement report), one asset's, a person's wipe attestation, the
//! disposal; and the deployment-incomplete view.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::caller::{Analyst, Viewer};
use super::error::json_body;
use super::{ApiError, AppState};
use crate::retirement::Checklist;
use crate::store::now_ms;

/// Every decommissioned and disposed asset's checklist, by tag.
#[utoipa::path(
    get, path = "/api/v1/retirements", tag = "register",
    responses((status = 200, description = "The retirement report", body = Vec<Checklist>))
)]
pub async fn list(State(state): State<AppState>, _: Viewer) -> Result<Json<Vec<Checklist>>, ApiError> {
    Ok(Json(state.run(|r| crate::app::retirement::all(r, now_ms())).await?))
}

/// One retired asset's checklist.
#[utoipa::path(
    get, path = "/api/v1/retirements/{tag}", tag = "register", params(("tag" = String, Path, description = "Asset tag")),
    responses(
        (status = 200, description = "Its checklist", body = Checklist),
        (status = 409, description = "No such asset, or not decommissioned or disposed", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    _: Viewer,
    Path(tag): Path<String>,
) -> Result<Json<Checklist>, ApiError> {
    Ok(Json(state.run(move |r| crate::app::retirement::one(r, &tag, now_ms())).await?))
}

/// A wipe attestation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WipeInput {
    /// The wipe certificate's or ticket's id (1-200 characters).
    pub reference: String,
    /// What was done (at most 1,000 characters).
    #[serde(default)]
    pub note: String,
}

/// Attest that a retired asset's data was wiped.
#[utoipa::path(
    post, path = "/api/v1/retirements/{tag}/wipe", tag = "register",
    params(("tag" = String, Path, description = "Asset tag")), request_body = WipeInput,
    responses(
        (status = 200, description = "The checklist with the attestation", body = Checklist),
        (status = 409, description = "No such asset, or not decommissioned or disposed", body = super::openapi::ErrorBody),
    )
)]
pub async fn wipe(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(tag): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Checklist>, ApiError> {
    let input: WipeInput = json_body(&body)?;
    Ok(Json(
        state
            .run(move |r| crate::app::retirement::attest_wipe(r, &who, &tag, &input.reference, &input.note, now_ms()))
            .await?,
    ))
}

/// A disposal.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisposeInput {
    /// Dispose it although checklist steps are unmet (needs `reason`).
    #[serde(default)]
    pub force: bool,
    /// Why to dispose it although checklist steps are unmet (kept in the audit log; needs `force`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Dispose a retired asset: refused while checklist steps are unmet, unless forced with a reason.
#[utoipa::path(
    post, path = "/api/v1/retirements/{tag}/dispose", tag = "register",
    params(("tag" = String, Path, description = "Asset tag")), request_body = DisposeInput,
    responses(
        (status = 200, description = "The checklist after the disposal", body = Checklist),
        (status = 400, description = "force without a reason, or a reason without force", body = super::openapi::ErrorBody),
        (status = 409, description = "Unmet steps and not forced (each named), or no such asset", body = super::openapi::ErrorBody),
    )
)]
pub async fn dispose(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(tag): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Checklist>, ApiError> {
    let input: DisposeInput =
        if body.iter().all(u8::is_ascii_whitespace) { DisposeInput::default() } else { json_body(&body)? };
    // Forcing past unmet steps is said twice: `force` and the reason why.
    if input.force != input.reason.is_some() {
        let why = if input.force { "force needs a reason" } else { "a reason is taken only with force: true" };
        return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, why));
    }
    Ok(Json(
        state.run(move |r| crate::app::retirement::dispose(r, &who, &tag, input.reason.as_deref(), now_ms())).await?,
    ))
}

/// The `deployment-incomplete` view: deployed assets lacking an active
/// owner, an expected service or a presence on the network, with what each lacks.
#[utoipa::path(
    get, path = "/api/v1/deployments/incomplete", tag = "register",
    responses((status = 200, description = "Incomplete deployments, by tag", body = Vec<crate::deployment::Incomplete>))
)]
pub async fn incomplete(
    State(state): State<AppState>,
    _: Viewer,
) -> Result<Json<Vec<crate::deployment::Incomplete>>, ApiError> {
    Ok(Json(state.run(|r| crate::app::query::deployments(r, now_ms())).await?))
}
