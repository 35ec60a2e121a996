//! The reconciliation API: alerts and their lifecycle, suppression rules,
//! whois, the audit report, an on-demand full reconcile, and status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::caller::{Admin, Analyst, Viewer};
use super::error::{json_body, optional_json_body};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::alerts::{Alert, AlertAction, AlertFilter, AlertHistoryEntry, Suppression, SuppressionInput};
use crate::people::Principal;
use crate::store::now_ms;
use crate::whois::WhoisAnswer;

/// `GET /api/v1/alerts?state=&kind=&tag=&include_suppressed=&limit=&cursor=`: newest first,
/// 1,000 a page by default (at most 10,000).
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "alerts", params(AlertFilter, PageQuery),
    responses((status = 200, description = "Alerts, newest first (one page)", body = Vec<Alert>))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(mut filter): Query<AlertFilter>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page("alert", 1000, paging::SMALL_MAX)?;
    filter.before_id = match &page.after {
        Some(id) => Some(id.parse().map_err(|_| ApiError::bad_field("cursor", "not a cursor of this list (alert)"))?),
        None => None,
    };
    let limit = page.limit;
    filter.limit = Some(u32::try_from(limit + 1).unwrap_or(u32::MAX));
    let mut alerts: Vec<Alert> = state.blocking(move |s| s.alerts(&filter)).await?;
    let next = (alerts.len() > limit).then(|| alerts[limit - 1].id.to_string());
    alerts.truncate(limit);
    Ok(paging::respond(&uri, "alert", alerts, next))
}

/// `GET /api/v1/alerts/{id}`
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, description = "The alert with its evidence", body = Alert),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_one(State(state): State<AppState>, _: Viewer, Path(id): Path<i64>) -> Result<Json<Alert>, ApiError> {
    state.blocking(move |s| s.alert(id)).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("alert {id}")))
}

/// `GET /api/v1/alerts/{id}/history`: what happened to the alert, oldest first.
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}/history", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id"), PageQuery),
    responses(
        (status = 200, description = "What happened to it, oldest first (one page)", body = Vec<AlertHistoryEntry>),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    _: Viewer,
    Path(id): Path<i64>,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    if state.blocking(move |s| s.alert(id)).await?.is_none() {
        return Err(ApiError::not_found(format!("alert {id}")));
    }
    let history: Vec<AlertHistoryEntry> = state.blocking(move |s| s.alert_history(id)).await?;
    paging::paged_history(&uri, &q, "alert-history", history)
}

/// Body of ack and resolve.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why (kept with a resolution).
    #[serde(default)]
    pub note: Option<String>,
}

async fn act(
    state: AppState,
    who: Principal,
    id: i64,
    action: AlertAction,
    body: &[u8],
) -> Result<Json<Alert>, ApiError> {
    let body: ActionBody = optional_json_body(body)?;
    let out = state.run(move |r| crate::app::alerts::act(r, id, action, &who, body.note.as_deref(), now_ms())).await?;
    out.map(Json).ok_or_else(|| ApiError::not_found(format!("alert {id}")))
}

/// `POST /api/v1/alerts/{id}/ack`
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", description = "Acknowledge",
    params(("id" = i64, Path, description = "Alert id")),
    request_body(content = Option<ActionBody>, content_type = "application/json", description = "Optional note; no body is fine"),
    responses(
        (status = 200, description = "The alert after the action", body = Alert),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
        (status = 409, description = "Not possible in the alert's state (resolved already)", body = super::openapi::ErrorBody),
    )
)]
pub async fn ack(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>, ApiError> {
    act(state, who, id, AlertAction::Acknowledge, &body).await
}

/// `POST /api/v1/alerts/{id}/resolve` — for new-service, accepts the ports.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", description = "Resolve (a new-service alert: accept its ports)",
    params(("id" = i64, Path, description = "Alert id")),
    request_body(content = Option<ActionBody>, content_type = "application/json", description = "Optional note; no body is fine"),
    responses(
        (status = 200, description = "The alert after the action", body = Alert),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
        (status = 409, description = "Not possible in the alert's state (resolved already)", body = super::openapi::ErrorBody),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>, ApiError> {
    act(state, who, id, AlertAction::Resolve, &body).await
}

/// `GET /api/v1/suppressions` (live ones; `?all=true` for expired too)
#[utoipa::path(
    get, path = "/api/v1/suppressions", tag = "alerts",
    params(RulesQuery, PageQuery),
    responses((status = 200, description = "Suppression rules by id (one page)", body = Vec<Suppression>))
)]
pub async fn suppressions(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(q): Query<RulesQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let live_only = !q.all.unwrap_or(false);
    let rules: Vec<Suppression> = state.blocking(move |s| s.suppressions(live_only)).await?;
    paging::paged(&uri, &page, "suppression", rules, |r| paging::id_key(r.id))
}

/// `POST /api/v1/suppressions`
#[utoipa::path(
    post, path = "/api/v1/suppressions", tag = "alerts",
    request_body(content = SuppressionInput, content_type = "application/json"),
    responses((status = 201, description = "The rule and the live alerts it holds", body = crate::app::alerts::AddedRule))
)]
pub async fn add_suppression(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<crate::app::alerts::AddedRule>), ApiError> {
    let input: SuppressionInput = json_body(&body)?;
    let stored = state.run(move |r| crate::app::alerts::add_suppression(r, &who, input, now_ms())).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `DELETE /api/v1/suppressions/{id}`
#[utoipa::path(
    delete, path = "/api/v1/suppressions/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such rule", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove_suppression(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.run(move |r| crate::app::alerts::remove_suppression(r, &who, id, now_ms())).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("suppression {id}")))
    }
}

/// The longest whois query (characters): the longest host name DNS allows
/// (RFC 1035's 255 octets on the wire, 253 written out), longer than any
/// other key the register takes (an external id: 32 + 1 + 200).
const WHOIS_QUERY_MAX: usize = 253;

/// Query of whois.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhoisQuery {
    /// IP, MAC, asset tag, serial number, external id (`SYSTEM:ID`) or host name.
    #[param(min_length = 1, max_length = 253, pattern = "\\S")]
    pub q: String,
}

/// `GET /api/v1/whois?q=IP|MAC|HOSTNAME`
#[utoipa::path(
    get, path = "/api/v1/whois", tag = "hosts", params(WhoisQuery),
    responses(
        (status = 200, description = "What it is, who owns it, should it exist", body = WhoisAnswer),
        (status = 404, description = "Nothing known about it", body = super::openapi::ErrorBody),
    )
)]
pub async fn whois(
    State(state): State<AppState>,
    _: Viewer,
    Query(WhoisQuery { q }): Query<WhoisQuery>,
) -> Result<Json<WhoisAnswer>, ApiError> {
    let q = q.trim().to_string();
    if q.is_empty() {
        return Err(ApiError::bad_field(
            "q",
            "give an IP address, a MAC, an asset tag, a serial number, an external id (SYSTEM:ID) or a host name",
        ));
    }
    if q.chars().any(char::is_control) {
        return Err(ApiError::bad_field("q", "holds control characters, which no tag, address, MAC or name can hold"));
    }
    // Characters, not bytes: an external id of 200 accented characters is one the register takes.
    let chars = q.chars().count();
    if chars > WHOIS_QUERY_MAX {
        return Err(ApiError::bad_field(
            "q",
            format!(
                "at most {WHOIS_QUERY_MAX} characters (the longest host name DNS allows, longer than any key the \
                 register takes); this one has {chars}"
            ),
        ));
    }
    let key = q.clone();
    state.run(move |r| crate::app::query::whois(r, &key, now_ms())).await?.map(Json).ok_or_else(|| {
        let q: String = q.chars().filter(|c| !c.is_control()).collect();
        let why = format!(
            "nothing is known about `{q}`: no agent has seen it, and no asset has this tag, MAC, address, serial \
             number, external id or name"
        );
        ApiError::new(StatusCode::NOT_FOUND, why)
    })
}

/// Query of the suppression rules.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RulesQuery {
    /// Expired rules too (`true`/`false`).
    pub all: Option<bool>,
}

/// Query of the report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    #[param(value_type = Option<String>, pattern = "^(csv|json)$")]
    pub format: Option<String>,
}

/// `GET /api/v1/report?format=csv|json`
#[utoipa::path(
    get, path = "/api/v1/report", tag = "register",
    params(ReportQuery),
    responses((status = 200, description = "Every asset with its status and evidence",
        content((Vec<crate::report::ReportRow> = "application/json"), (String = "text/csv"))))
)]
pub async fn report(
    State(state): State<AppState>,
    _: Viewer,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(ApiError::bad_field("format", format!("`{}` is not one of csv, json", other.escape_debug())));
        }
    };
    let rows = state.run(move |r| crate::app::query::report(r, now_ms())).await?;
    if !csv {
        return Ok(Json(rows).into_response());
    }
    let body =
        crate::report::to_csv(&rows).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

/// `POST /api/v1/reconcile`: run a full reconcile now and return what it did.
#[utoipa::path(
    post, path = "/api/v1/reconcile", tag = "alerts",
    responses((status = 200, description = "What the full reconcile did", body = crate::reconcile::ReconcileSummary))
)]
pub async fn reconcile_now(
    State(state): State<AppState>,
    Admin(who): Admin,
) -> Result<Json<crate::reconcile::ReconcileSummary>, ApiError> {
    Ok(Json(state.run(move |r| crate::app::alerts::reconcile_now(r, &who, now_ms())).await?))
}

/// `GET /api/v1/status`: alert counts, the notification backlog, each agent's cadence.
#[utoipa::path(
    get, path = "/api/v1/status", tag = "alerts",
    responses((status = 200, description = "Alert counts, notification backlog, agents' cadence", body = crate::app::query::Status))
)]
pub async fn status(State(state): State<AppState>, _: Viewer) -> Result<Json<crate::app::query::Status>, ApiError> {
    Ok(Json(state.run(|r| crate::app::query::status(r, now_ms())).await?))
}

/// Certificate inventory options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertificatesQuery {
    /// Only certificates with a weak key or signature (RSA under 2048 bits, DSA, SHA-1, MD5).
    #[serde(default)]
    pub weak: bool,
}

/// The certificate inventory: every TLS certificate the latest sweeps saw
/// served, with where, by which asset, and what is weak about it.
#[utoipa::path(
    get, path = "/api/v1/certificates", tag = "alerts", params(CertificatesQuery),
    responses((status = 200, description = "Certificates, soonest to end first",
        body = Vec<crate::certificates::CertificateRecord>))
)]
pub async fn certificates(
    State(state): State<AppState>,
    _: Viewer,
    Query(q): Query<CertificatesQuery>,
) -> Result<Json<Vec<crate::certificates::CertificateRecord>>, ApiError> {
    let weak = q.weak;
    Ok(Json(state.run(move |r| crate::app::query::certificates(r, weak, now_ms())).await?))
}
