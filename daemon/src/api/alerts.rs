//! The reconciliation API: alerts and their lifecycle, suppression rules,
//! whois, the audit report, an on-demand full reconcile, and status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::caller::{Admin, Analyst, Viewer};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::alerts::{Alert, AlertAction, AlertFilter, AlertHistoryEntry, Suppression, SuppressionInput};
use crate::people::Principal;
use crate::store::now_ms;
use crate::whois::WhoisAnswer;

/// `GET /api/v1/alerts?state=&kind=&tag=&include_suppressed=&limit=&cursor=`: newest first,
/// 1,000 a page by default (at most 100,000).
pub async fn list(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(mut filter): Query<AlertFilter>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page("alert", 1000, 100_000)?;
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
pub async fn get_one(State(state): State<AppState>, _: Viewer, Path(id): Path<i64>) -> Result<Json<Alert>, ApiError> {
    state.blocking(move |s| s.alert(id)).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("alert {id}")))
}

/// `GET /api/v1/alerts/{id}/history`: what happened to the alert, oldest first.
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
#[derive(Debug, Default, Deserialize)]
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
    let body: ActionBody = if body.is_empty() {
        ActionBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_field("note", format!("malformed body: {e}")))?
    };
    let note: Option<String> =
        body.note.map(|n| n.chars().filter(|c| !c.is_control()).take(500).collect()).filter(|n: &String| !n.is_empty());
    let rec = state.reconciler.clone();
    let out =
        tokio::task::spawn_blocking(move || crate::app::alerts::act(&rec, id, action, &who, note.as_deref(), now_ms()))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??;
    out.map(Json).ok_or_else(|| ApiError::not_found(format!("alert {id}")))
}

/// `POST /api/v1/alerts/{id}/ack`
pub async fn ack(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>, ApiError> {
    act(state, who, id, AlertAction::Acknowledge, &body).await
}

/// `POST /api/v1/alerts/{id}/resolve` — for new-service, accepts the ports.
pub async fn resolve(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Alert>, ApiError> {
    act(state, who, id, AlertAction::Resolve, &body).await
}

/// `GET /api/v1/suppressions` (live ones; `?all=true` for expired too)
pub async fn suppressions(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let live_only = q.get("all").is_none_or(|v| v != "true");
    let rules: Vec<Suppression> = state.blocking(move |s| s.suppressions(live_only)).await?;
    paging::paged(&uri, &page, "suppression", rules, |r| paging::id_key(r.id))
}

/// `POST /api/v1/suppressions`
pub async fn add_suppression(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<crate::app::alerts::AddedRule>), ApiError> {
    let input: SuppressionInput = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
        .map_err(|e| {
            let path = e.path().to_string();
            ApiError::bad_field(path.clone(), format!("malformed suppression at `{path}`: {}", e.into_inner()))
        })?;
    let rule = input.validate(&who.name, now_ms()).map_err(|(f, m)| ApiError::bad_field(f, m))?;
    let rec = state.reconciler.clone();
    let stored = tokio::task::spawn_blocking(move || crate::app::alerts::add_suppression(&rec, &who, &rule, now_ms()))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??;
    state.full_requested.notify_one();
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `DELETE /api/v1/suppressions/{id}`
pub async fn remove_suppression(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.blocking(move |s| crate::app::alerts::remove_suppression(s, &who, id, now_ms())).await? {
        state.full_requested.notify_one();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("suppression {id}")))
    }
}

/// Query of whois.
#[derive(Debug, Deserialize)]
pub struct WhoisQuery {
    /// IP, MAC or host name.
    pub q: String,
}

/// `GET /api/v1/whois?q=IP|MAC|HOSTNAME`
pub async fn whois(
    State(state): State<AppState>,
    _: Viewer,
    Query(WhoisQuery { q }): Query<WhoisQuery>,
) -> Result<Json<WhoisAnswer>, ApiError> {
    let q = q.trim().to_string();
    if q.is_empty() || q.len() > 253 {
        return Err(ApiError::bad_field("q", "give an IP address, a MAC or a host name"));
    }
    let rec = state.reconciler.clone();
    let key = q.clone();
    tokio::task::spawn_blocking(move || crate::app::query::whois(&rec, &key, now_ms()))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "nothing is known about `{}`: no agent has seen it, and no asset has this tag, MAC, address or name",
                    q.chars().filter(|c| !c.is_control()).collect::<String>()
                ),
            )
        })
}

/// `GET /api/v1/report?format=csv|json`
pub async fn report(
    State(state): State<AppState>,
    _: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let rec = state.reconciler.clone();
    let rows = tokio::task::spawn_blocking(move || crate::app::query::report(&rec, now_ms()))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??;
    match q.get("format").map(String::as_str).unwrap_or("json") {
        "json" => Ok(Json(rows).into_response()),
        "csv" => {
            let body = crate::report::to_csv(&rows)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
        }
        other => Err(ApiError::bad_field("format", format!("`{other}` is not one of csv, json"))),
    }
}

/// `POST /api/v1/reconcile`: run a full reconcile now and return what it did.
pub async fn reconcile_now(State(state): State<AppState>, Admin(who): Admin) -> Result<Response, ApiError> {
    let r = state.reconciler.clone();
    let summary = tokio::task::spawn_blocking(move || crate::app::alerts::reconcile_now(&r, &who, now_ms()))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))?
        .map_err(ApiError::from)?;
    Ok(Json(summary).into_response())
}

/// `GET /api/v1/status`: alert counts, the notification backlog, each agent's cadence.
pub async fn status(State(state): State<AppState>, _: Viewer) -> Result<Json<crate::app::query::Status>, ApiError> {
    let rec = state.reconciler.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || crate::app::query::status(&rec, now_ms()))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))??,
    ))
}
