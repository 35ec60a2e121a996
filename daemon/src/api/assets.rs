//! The managed register over HTTP: CRUD on assets, history, import
//! (CSV or JSON, all-or-nothing, with a dry run) and export.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::caller::{Admin, Analyst, Viewer};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::app::register::Format;
use crate::register::csv::{CsvOptions, to_csv, to_json};
use crate::register::model::asset_from_json;
use crate::register::patch::ImportOptions;
use crate::register::plan::ImportPlan;
use crate::register::{Asset, FieldError};
use crate::store::{AssetChange, now_ms};

fn parse_body(body: &[u8]) -> Result<Asset, ApiError> {
    let value = crate::register::strict_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))?;
    asset_from_json(value).map_err(ApiError::invalid)
}

/// The register's search (see `register::search`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A search, e.g. `lifecycle:deployed owner:platform-team seen:<7d alert:open port:3389
    /// segment:198.18.10.0/24 web` (fields: lifecycle, type, criticality, owner, department, tag,
    /// name, vendor, mac, ip, segment, port, alert, seen; `-` negates; other words match tag,
    /// name or host name). Empty: every asset.
    #[param(max_length = 1000)]
    pub q: Option<String>,
}

/// `GET /api/v1/assets?q=&limit=&cursor=`: assets by tag (matching `q`), 1,000 a page by default (at most 10,000).
#[utoipa::path(
    get, path = "/api/v1/assets", tag = "register", params(SearchQuery, PageQuery),
    responses((status = 200, description = "Assets by tag (one page)", body = Vec<Asset>))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Viewer,
    uri: Uri,
    Query(search): Query<SearchQuery>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page("asset", 1000, 10_000)?;
    let (after, limit) = (page.after.clone(), page.limit);
    let query = crate::register::search::AssetQuery::parse(search.q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_field("q", e.to_string()))?;
    let mut assets =
        state.run(move |r| crate::app::query::search_assets(r, &query, after.as_deref(), limit + 1, now_ms())).await?;
    let next = (assets.len() > limit).then(|| assets[limit - 1].tag.clone());
    assets.truncate(limit);
    Ok(paging::respond(&uri, "asset", assets, next))
}

/// Create an asset.
#[utoipa::path(
    post, path = "/api/v1/assets", tag = "register",
    request_body(content = Asset, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Asset),
        (status = 409, description = "The tag, or a MAC, is another asset's", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    body: Bytes,
) -> Result<(StatusCode, Json<Asset>), ApiError> {
    let asset = parse_body(&body)?;
    let stored = state.run(move |r| crate::app::register::create(r, &who, &asset, now_ms())).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// One asset.
#[utoipa::path(
    get, path = "/api/v1/assets/{tag}", tag = "register",
    params(("tag" = String, Path, description = "Asset tag (any case)")),
    responses(
        (status = 200, description = "The asset", body = Asset),
        (status = 404, description = "No such asset", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    _: Viewer,
    Path(tag): Path<String>,
) -> Result<Json<Asset>, ApiError> {
    let t = tag.clone();
    state.blocking(move |s| s.asset(&t)).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("asset `{tag}`")))
}

/// Replace an asset.
#[utoipa::path(
    put, path = "/api/v1/assets/{tag}", tag = "register",
    params(("tag" = String, Path, description = "Asset tag")),
    request_body(content = Asset, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = Asset),
        (status = 404, description = "No such asset", body = super::openapi::ErrorBody),
        (status = 409, description = "A MAC is another asset's", body = super::openapi::ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(tag): Path<String>,
    body: Bytes,
) -> Result<Json<Asset>, ApiError> {
    let asset = parse_body(&body)?;
    if asset.tag != tag {
        return Err(ApiError::invalid(vec![FieldError {
            field: "tag".into(),
            message: format!("the body's tag `{}` differs from the path's `{tag}`", asset.tag),
        }]));
    }
    let stored = state.run(move |r| crate::app::register::update(r, &who, &asset, now_ms())).await?;
    Ok(Json(stored))
}

/// Delete an asset.
#[utoipa::path(
    delete, path = "/api/v1/assets/{tag}", tag = "register",
    params(("tag" = String, Path, description = "Asset tag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such asset", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Analyst(who): Analyst,
    Path(tag): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = tag.clone();
    let deleted = state.run(move |r| crate::app::register::delete(r, &who, &t, now_ms())).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found(format!("asset `{tag}`"))) }
}

/// An asset's change history.
#[utoipa::path(
    get, path = "/api/v1/assets/{tag}/history", tag = "register",
    params(("tag" = String, Path, description = "Asset tag"), PageQuery),
    responses(
        (status = 200, description = "Changes to the asset, oldest first (one page); a deleted asset's too", body = Vec<AssetChange>),
        (status = 404, description = "No such asset, and none by that tag ever changed")
    )
)]
pub async fn history(
    State(state): State<AppState>,
    _: Viewer,
    Path(tag): Path<String>,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let (changes, exists) = state
        .blocking(move |s| {
            let changes: Vec<AssetChange> = s.asset_history(&tag)?;
            // An empty history of a tag nothing ever had is no asset's (review of 2026-12-08: 200 []).
            let exists = !changes.is_empty() || s.asset(&tag)?.is_some();
            Ok::<_, crate::store::StoreError>((changes, exists.then_some(()).ok_or(tag)))
        })
        .await?;
    if let Err(tag) = exists {
        return Err(ApiError::not_found(format!("asset `{tag}` (it has no history either)")));
    }
    paging::paged_history(&uri, &q, "asset-history", changes)
}

/// Import/export options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` or `json` (default `json`).
    #[param(value_type = Option<String>, pattern = "^(csv|json)$")]
    pub format: Option<String>,
    /// Only say what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// Each row is the whole asset (fields it leaves out are reset).
    #[serde(default)]
    pub replace: bool,
    /// Empty cells clear their field.
    #[serde(default)]
    pub clear_empty: bool,
    /// CSV field delimiter, one ASCII character (default `,`).
    #[param(value_type = Option<String>, pattern = "^([ !#-~]|tab|\\\\t)$")]
    pub delimiter: Option<String>,
}

/// The query's format and delimiter as one value; a delimiter is checked whenever it is
/// given, also for JSON, so a typo is never silently ignored.
pub(super) fn parse_format(format: Option<&str>, delimiter: Option<&str>) -> Result<Format, ApiError> {
    let delimiter = match delimiter {
        None => b',',
        Some(d) => CsvOptions::delimiter(d).map_err(|why| ApiError::bad_field("delimiter", why))?,
    };
    match format.unwrap_or("json") {
        "csv" => Ok(Format::Csv(CsvOptions { delimiter })),
        "json" => Ok(Format::Json),
        other => Err(ApiError::bad_field("format", format!("`{}` is not csv or json", other.escape_debug()))),
    }
}

/// Import a register file; nothing is stored if any row is bad.
#[utoipa::path(
    post, path = "/api/v1/register/import", tag = "register", params(FormatQuery),
    request_body(description = "JSON (`format=json`, the default): an array of assets, whole or the fields to \
        change; CSV (`format=csv`): one asset per row under a header naming the columns",
        content((Vec<serde_json::Value> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, description = "The plan (applied unless `dry_run`)", body = ImportPlan),
        (status = 409, description = "The import conflicts with the register", body = super::openapi::ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<FormatQuery>,
    body: Bytes,
) -> Result<Json<ImportPlan>, ApiError> {
    let format = parse_format(q.format.as_deref(), q.delimiter.as_deref())?;
    let opts = ImportOptions { replace: q.replace, clear_empty: q.clear_empty };
    let dry_run = q.dry_run;
    let plan = state.run(move |r| crate::app::register::import(r, &body, format, opts, dry_run, &who)).await?;
    Ok(Json(plan))
}

/// Export the register.
#[utoipa::path(
    get, path = "/api/v1/register/export", tag = "register", params(FormatQuery),
    responses((status = 200, description = "The whole register",
        content((String = "text/csv"), (Vec<Asset> = "application/json"))))
)]
pub async fn export(
    State(state): State<AppState>,
    _: Viewer,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = parse_format(q.format.as_deref(), q.delimiter.as_deref())?;
    let assets = state.blocking(|s| s.assets()).await?;
    Ok(match format {
        Format::Csv(opts) => {
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], to_csv(&assets, opts)).into_response()
        }
        Format::Json => ([(header::CONTENT_TYPE, "application/json")], to_json(&assets)).into_response(),
    })
}
