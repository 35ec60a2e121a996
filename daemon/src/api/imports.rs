//! Other tools' findings over HTTP: an nmap `-oX` report imported as an
//! observation batch (`censusd import nmap` posts here).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::caller::Admin;
use super::{ApiError, AppState};
use crate::app::imports::{ImportError, NmapImport};

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid { field, message } => ApiError::bad_field(field, message),
            ImportError::Report(ref r) => {
                let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
                err.field = Some(r.element.clone());
                err
            }
            ImportError::Ingest(i) => ApiError::from(i),
            ImportError::Store(s) => ApiError::from(s),
        }
    }
}

/// Where an nmap report was taken.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NmapQuery {
    /// The segment the report is about, a CIDR (`198.18.0.0/24`). The report
    /// counts as a sweep of it only if its targets covered all of it.
    pub segment: String,
    /// The agent to deliver it as (default `nmap`; created with the segment if absent).
    pub agent: Option<String>,
}

/// Import an nmap XML report (`nmap -oX`) as an observation batch: stored and
/// reconciled like an agent's sweep; the same report again is a duplicate.
#[utoipa::path(
    post, path = "/api/v1/imports/nmap", tag = "imports", params(NmapQuery),
    request_body(description = "The report as nmap wrote it", content((String = "application/xml"))),
    responses(
        (status = 200, description = "Imported (or a duplicate of an earlier import)", body = NmapImport),
        (status = 422, description = "Not a complete, well-formed nmap report: `field` names the element", body = super::openapi::ErrorBody),
    )
)]
pub async fn nmap(
    State(state): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<NmapQuery>,
    body: Bytes,
) -> Result<Json<NmapImport>, ApiError> {
    let now = crate::store::now_ms();
    let done =
        state.run(move |r| crate::app::imports::nmap(r, &who, &body, &q.segment, q.agent.as_deref(), now)).await?;
    Ok(Json(done))
}
