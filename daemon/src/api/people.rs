//! People, tokens, sign-in and the audit log over HTTP.
//!
//! | route | role |
//! |---|---|
//! | `POST /api/v1/login` `{name, password}` → a session token (12 h) | none |
//! | `GET /api/v1/whoami` | viewer |
//! | `GET/POST /api/v1/users`, `GET /api/v1/users/{name}` | admin |
//! | `POST /api/v1/users/{name}/disable`, `…/enable`, `…/password`; `PUT …/role` | admin |
//! | `GET/POST /api/v1/tokens`, `DELETE /api/v1/tokens/{id}` | admin |
//! | `GET /api/v1/audit?actor=&action=&subject=&since=&until=&limit=&cursor=` | admin |

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::caller::{Admin, Viewer};
use super::error::{json_body, optional_json_body};
use super::paging::{self, PageQuery};
use super::{ApiError, AppState};
use crate::app::people::{LoginError, PeopleError};
use crate::audit::{AuditFilter, AuditRecord};
use crate::people::{Person, Principal, Role, TokenInfo};
use crate::store::now_ms;

/// The sign-in route: the one operator route that takes no token.
pub const LOGIN_PATH: &str = "/api/v1/login";

/// Password checks run one at a time: each costs argon2's memory and about a
/// core for tens of ms, so a flood of sign-ins queues here instead of taking
/// every core from agents' deliveries.
pub static PASSWORD_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The address a request came from: set on every connection by
/// [`super::serve::serve`]; `None` where a test calls the router directly.
#[derive(Debug, Clone, Copy)]
pub struct Source(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Source(peer.map(|c| c.0.ip())))
    }
}

/// Sign in from `source`, for the API and the console alike: the source's
/// failures are checked first ([`crate::people::throttle::SourceFailures`]),
/// then one password check at a time ([`PASSWORD_CHECKS`]) on the blocking
/// pool through [`crate::app::people::login`] (the account's own throttle and
/// the audit record); a wrong password counts against the source.
///
/// # Errors
/// [`LoginError`].
pub async fn sign_in(
    state: &AppState,
    source: Source,
    name: String,
    password: String,
) -> Result<crate::app::people::Session, LoginError> {
    // Each attempt counts as a failure from the start, checked and counted
    // under one lock, and is taken back if the password is right: attempts
    // sent all at once cannot pass the check before any has failed.
    let attempt_ms = now_ms();
    if let Some(ip) = source.0 {
        let mut failures = state.sign_ins.lock();
        if let Err(ms) = failures.check(ip, attempt_ms) {
            tracing::warn!(%ip, retry_after_ms = ms, "sign-ins from this address paused after repeated failures");
            return Err(LoginError::SourceThrottled(ms));
        }
        failures.failed(ip, attempt_ms);
    }
    let store = state.store.clone();
    let out = async move {
        let Ok(_permit) = PASSWORD_CHECKS.acquire().await else {
            return Err(LoginError::ShuttingDown);
        };
        tokio::task::spawn_blocking(move || crate::app::people::login(store.as_ref(), &name, &password, now_ms()))
            .await
            .map_err(|_| LoginError::Store(crate::store::StoreError::Io("sign-in worker failed".into())))?
    }
    .await;
    if let (Some(ip), false) = (source.0, matches!(out, Err(LoginError::Invalid))) {
        state.sign_ins.lock().forgive(ip, attempt_ms);
    }
    out
}

async fn run<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn crate::store::Store) -> Result<T, PeopleError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))?
        .map_err(ApiError::from)
}

/// Body of a sign-in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The person's name.
    pub name: String,
    /// Their password.
    pub password: String,
}

/// `POST /api/v1/login`: a session token for a name and password.
#[utoipa::path(
    post, path = "/api/v1/login", tag = "people",
    request_body(content = Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "A session token (12 hours)", body = crate::app::people::Session),
        (status = 401, description = "Wrong name or password", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many failures for the account or from this address; see Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "Shutting down", body = super::openapi::ErrorBody),
    )
)]
pub async fn login(State(state): State<AppState>, source: Source, bytes: Bytes) -> Result<Response, ApiError> {
    let c: Credentials = json_body(&bytes)?;
    match sign_in(&state, source, c.name, c.password).await {
        Ok(session) => Ok(Json(session).into_response()),
        Err(LoginError::Invalid) => Err(ApiError::new(StatusCode::UNAUTHORIZED, LoginError::Invalid.to_string())),
        Err(e @ (LoginError::Throttled(ms) | LoginError::SourceThrottled(ms))) => {
            Ok(ApiError::too_many_requests(e.to_string(), u64::try_from((ms + 999) / 1000).unwrap_or(0)))
        }
        Err(e @ LoginError::ShuttingDown) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(LoginError::Store(s)) => Err(ApiError::from(s)),
    }
}

/// `GET /api/v1/whoami`: the caller's name and role.
#[utoipa::path(
    get, path = "/api/v1/whoami", tag = "people",
    responses((status = 200, description = "The caller", body = Principal))
)]
pub async fn whoami(Viewer(who): Viewer) -> Json<Principal> {
    Json(who)
}

/// `GET /api/v1/users?limit=&cursor=`: people by name.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "people", params(PageQuery),
    responses((status = 200, description = "People by name (one page)", body = Vec<Person>))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let people: Vec<Person> = state.blocking(|s| s.people()).await?;
    paging::paged(&uri, &q, "user", people, |p| p.name.clone())
}

/// `GET /api/v1/users/{name}`
#[utoipa::path(
    get, path = "/api/v1/users/{name}", tag = "people",
    params(("name" = String, Path, description = "Sign-in name")),
    responses(
        (status = 200, description = "The person", body = Person),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<Person>, ApiError> {
    let n = name.clone();
    state
        .blocking(move |s| s.person(&n))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("person `{name}`")))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Sign-in name.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// `viewer`, `analyst` or `admin`.
    pub role: Role,
    /// A password (at least 12 characters); a one-time one is made when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// A person added or a password set: the one-time password, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithPassword {
    /// The person.
    pub person: Person,
    /// The one-time password made up, when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `POST /api/v1/users`
#[utoipa::path(
    post, path = "/api/v1/users", tag = "people",
    request_body(content = NewPerson, content_type = "application/json"),
    responses(
        (status = 201, description = "Added (with the one-time password made up, if none was given)", body = WithPassword),
        (status = 409, description = "The name is taken", body = super::openapi::ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    Admin(who): Admin,
    bytes: Bytes,
) -> Result<(StatusCode, Json<WithPassword>), ApiError> {
    let req: NewPerson = json_body(&bytes)?;
    let (person, password) =
        run(&state, move |s| crate::app::people::add(s, &who, req.name.trim(), req.role, req.password, now_ms()))
            .await?;
    Ok((StatusCode::CREATED, Json(WithPassword { person, password })))
}

/// `POST /api/v1/users/{name}/disable`: their tokens and sessions stop at once.
#[utoipa::path(
    post, path = "/api/v1/users/{name}/disable", tag = "people",
    params(("name" = String, Path, description = "Sign-in name")),
    responses(
        (status = 200, description = "The person after the change", body = Person),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<Json<Person>, ApiError> {
    Ok(Json(run(&state, move |s| crate::app::people::set_disabled(s, &who, &name, true, now_ms())).await?))
}

/// `POST /api/v1/users/{name}/enable`
#[utoipa::path(
    post, path = "/api/v1/users/{name}/enable", tag = "people",
    params(("name" = String, Path, description = "Sign-in name")),
    responses(
        (status = 200, description = "The person after the change", body = Person),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<Json<Person>, ApiError> {
    Ok(Json(run(&state, move |s| crate::app::people::set_disabled(s, &who, &name, false, now_ms())).await?))
}

/// Body of a password reset.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The new password; a one-time one is made when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /api/v1/users/{name}/password`: their sessions end.
#[utoipa::path(
    post, path = "/api/v1/users/{name}/password", tag = "people",
    params(("name" = String, Path, description = "Sign-in name")),
    request_body(content = Option<NewPassword>, content_type = "application/json", description = "Optional: no body makes a one-time password"),
    responses(
        (status = 200, description = "The person, with the one-time password if one was made", body = WithPassword),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<WithPassword>, ApiError> {
    let req: NewPassword = optional_json_body(&bytes)?;
    let (person, password) =
        run(&state, move |s| crate::app::people::reset_password(s, &who, &name, req.password, now_ms())).await?;
    Ok(Json(WithPassword { person, password }))
}

/// Body of a role change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// `viewer`, `analyst` or `admin`.
    pub role: Role,
}

/// `PUT /api/v1/users/{name}/role`
#[utoipa::path(
    put, path = "/api/v1/users/{name}/role", tag = "people",
    params(("name" = String, Path, description = "Sign-in name")),
    request_body(content = NewRole, content_type = "application/json"),
    responses(
        (status = 200, description = "The person with the new role", body = Person),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<Person>, ApiError> {
    let req: NewRole = json_body(&bytes)?;
    Ok(Json(run(&state, move |s| crate::app::people::set_role(s, &who, &name, req.role, now_ms())).await?))
}

/// Query of `GET /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// Only this person's.
    pub user: Option<String>,
    /// Page size (see `api::paging`).
    pub limit: Option<String>,
    /// The previous page's cursor.
    pub cursor: Option<String>,
}

/// `GET /api/v1/tokens?user=&limit=&cursor=`: newest first.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "people", params(TokenQuery),
    responses((status = 200, description = "API tokens, newest first (one page)", body = Vec<TokenInfo>))
)]
pub async fn tokens(
    State(state): State<AppState>,
    _: Admin,
    uri: Uri,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let user = q.user.clone();
    let tokens: Vec<TokenInfo> = state.blocking(move |s| s.tokens(user.as_deref())).await?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    paging::paged(&uri, &page, "token", tokens, |t| paging::id_key(i64::MAX - t.id))
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// Whose token.
    pub user: String,
    /// What it is for.
    #[serde(default)]
    pub label: String,
    /// Days until it stops working (never when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_days: Option<u32>,
}

/// `POST /api/v1/tokens`: the token is in the answer, once.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "people",
    request_body(content = NewTokenRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The token, shown this once", body = crate::app::people::NewToken),
        (status = 404, description = "No such person", body = super::openapi::ErrorBody),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    bytes: Bytes,
) -> Result<(StatusCode, Json<crate::app::people::NewToken>), ApiError> {
    let req: NewTokenRequest = json_body(&bytes)?;
    let made = run(&state, move |s| {
        crate::app::people::create_token(s, &who, &req.user, &req.label, req.expires_days, now_ms())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `DELETE /api/v1/tokens/{id}`
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "people",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = super::openapi::ErrorBody),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    run(&state, move |s| crate::app::people::revoke_token(s, &who, id, now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this actor's records.
    pub actor: Option<String>,
    /// Only this action (`asset.update`, `login.failed`, …).
    pub action: Option<String>,
    /// Only this subject (`asset:SRV-1`), or with a trailing `*` a prefix (`asset:*`).
    pub subject: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// At most this many (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

/// A page of audit records, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The records.
    pub records: Vec<AuditRecord>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

fn time_ms(field: &'static str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| ApiError::bad_field(field, format!("`{s}` is not an RFC 3339 time (2026-12-01T08:00:00Z)")))
    })
    .transpose()
}

/// `GET /api/v1/audit`
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "people", params(AuditQuery),
    responses((status = 200, description = "Audit records, newest first, with the next page's cursor", body = AuditPage))
)]
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_field("limit", "1 to 1000"));
    }
    let before_id = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.strip_prefix('a')
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| i64::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API gave"))
        })
        .transpose()?;
    let action = q
        .action
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(str::parse)
        .transpose()
        .map_err(|m: String| ApiError::bad_field("action", m))?;
    let some = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let filter = AuditFilter {
        actor: some(q.actor),
        action,
        subject: some(q.subject),
        since_ms: time_ms("since", q.since.as_deref())?,
        until_ms: time_ms("until", q.until.as_deref())?,
        before_id,
        limit: limit + 1,
    };
    let mut records = state.blocking(move |s| s.audit(&filter)).await?;
    let next_cursor = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| format!("a{:x}", r.id))
    } else {
        None
    };
    Ok(Json(AuditPage { records, next_cursor }))
}
