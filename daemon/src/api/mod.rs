//! The HTTP API.
//!
//! Everything but `/healthz` and sign-in needs a bearer token: an agent's
//! token for `POST /api/v1/batches`; for the operator API a person's API
//! token or session, or the configuration's admin token (the built-in
//! admin), with the role each route needs (see [`caller`]). Handlers
//! run store calls on the blocking pool. [`serve`] takes an already bound
//! listener and a shutdown future, so tests bind 127.0.0.1:0 and drive the
//! real API; the binary passes SIGTERM/Ctrl-C as the shutdown.

mod agents;
mod alerts;
mod assets;
pub mod body;
pub mod caller;
mod directory;
mod error;
mod imports;
pub mod ingest;
mod licences;
pub mod openapi;
pub mod paging;
pub mod people;
mod retirement;
pub mod serve;
mod sources;
mod sync;
mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use error::{ApiError, cut, listed_lines, retry_when_available};
pub use ingest::{BatchReceipt, IngestError, accept};
pub use people::PASSWORD_CHECKS;
pub use tls::{load_tls, serve_tls};

use crate::auth::{self, TokenHash};
use crate::people::Principal;
use crate::store::{AgentRecord, Store};

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Hash of the admin token.
    pub admin: TokenHash,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Reconciliation, run after every ingest and register change.
    pub reconciler: Arc<crate::reconcile::Reconciler>,
    /// Where large batches are decoded and stored: one at a time, at a
    /// lower CPU priority than agents' small deliveries.
    pub bulk: Arc<crate::app::background::Lane>,
    /// Served over TLS: the console's cookies are `Secure`.
    pub secure_cookies: bool,
    /// Failed sign-ins per source address (see [`people::sign_in`]).
    pub sign_ins: Arc<parking_lot::Mutex<crate::people::throttle::SourceFailures>>,
    /// Deliveries in flight per agent (see [`crate::app::in_flight`]).
    pub in_flight: Arc<crate::app::in_flight::InFlight>,
    /// The people directory's LDAP source (`[people.ldap]`), when configured.
    pub ldap: Option<Arc<crate::directory::ldap::LdapConfig>>,
    /// Register sync (`[sync.snipeit]`, `[sync.netbox]`).
    pub sync: Arc<crate::connectors::sync::config::SyncConfigs>,
}

impl AppState {
    /// Run a use case (given the reconciler, and through it the store) on the
    /// blocking pool, its error mapped to an answer.
    pub async fn run<T: Send + 'static, E: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::reconcile::Reconciler) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        ApiError: From<E>,
    {
        let rec = self.reconciler.clone();
        tokio::task::spawn_blocking(move || f(&rec))
            .await
            .map_err(|_| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))?
            .map_err(ApiError::from)
    }

    /// Run a store call on the blocking pool.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "worker failed"))?
            .map_err(ApiError::from)
    }
}

fn presented(headers: &HeaderMap) -> Option<TokenHash> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    auth::bearer(value).map(auth::hash_token)
}

/// The person (or the built-in admin) behind the request's bearer token:
/// the admin token of the configuration, else a personal token or session
/// (one hash, one indexed lookup, right or wrong).
pub async fn require_principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let hash = presented(headers).ok_or_else(ApiError::unauthorized)?;
    if auth::same(&hash, &state.admin) {
        return Ok(Principal::builtin_admin());
    }
    let now = crate::store::now_ms();
    state.blocking(move |s| s.principal_by_token(&hash, now)).await?.ok_or_else(ApiError::unauthorized)
}

/// Check an agent token (one hash, one indexed lookup, right or wrong).
pub async fn require_agent(state: &AppState, headers: &HeaderMap) -> Result<AgentRecord, ApiError> {
    let hash = presented(headers).ok_or_else(ApiError::unauthorized)?;
    state.blocking(move |s| s.agent_by_token(&hash)).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "missing, wrong or revoked agent token (a person's or the admin token is not an agent's)",
        )
    })
}

/// A NUL byte (`%00`) in the path or the query: no tag, name, address or
/// filter can hold one, and PostgreSQL cannot even compare text holding
/// one (it failed the lookup: a 500 where SQLite answered "not found"), so
/// the request is refused before any handler runs, alike on both stores.
/// A NUL cannot appear in a request line unencoded (the HTTP parser
/// refuses it); `%2500` is the text `%00`, not a NUL, and passes.
fn nul_in_uri(uri: &axum::http::Uri) -> Option<ApiError> {
    let nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    let why = |part: &str| {
        format!("the request's {part} holds a NUL byte (%00), which no tag, name, address or filter can hold")
    };
    if nul(uri.path()) {
        return Some(ApiError::new(axum::http::StatusCode::BAD_REQUEST, why("path")));
    }
    let query = uri.query().filter(|q| nul(q))?;
    // The parameter at fault, when its name is a plain one.
    let field = query
        .split('&')
        .find(|pair| nul(pair))
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
    Some(match field {
        Some(f) => ApiError::bad_field(f, why("query")),
        None => ApiError::new(axum::http::StatusCode::BAD_REQUEST, why("query")),
    })
}

/// Check the caller before any handler runs — and so before any body is
/// read: agents on `POST /api/v1/batches` (their record goes to the handler
/// as an extension), a person or the built-in admin everywhere else under
/// `/api/` but sign-in (the [`Principal`] goes to the handler, whose
/// [`caller`] extractor checks the role). A stranger's 60 MB upload is
/// refused after its headers.
async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(refused) = nul_in_uri(req.uri()) {
        return refused.into_response();
    }
    // Every body whole within BODY_TIMEOUT; a stranger's small (see `body`):
    // sign-in, the OpenAPI document, and console pages without a session cookie.
    let path = req.uri().path();
    let open_route = path == people::LOGIN_PATH || path == openapi::OPENAPI_PATH;
    let public = open_route
        || (!path.starts_with("/api/") && crate::console::cookie(req.headers(), crate::console::COOKIE).is_none());
    if public && body::declared_length(req.headers()).is_some_and(|n| n > body::PUBLIC_BODY_LIMIT) {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("a request without a session takes at most {} bytes", body::PUBLIC_BODY_LIMIT),
        )
        .into_response();
    }
    let (parts, b) = req.into_parts();
    let mut req = Request::from_parts(parts, body::bounded(b, serve::BODY_TIMEOUT, public));
    let path = req.uri().path();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    if path == "/api/v1/batches" {
        match require_agent(&state, req.headers()).await {
            Ok(agent) => {
                req.extensions_mut().insert(agent);
            }
            Err(e) => {
                // A token that could not be checked (the store failed) is
                // the store's fault, not the caller's: an outage must not
                // read as an attack on the tokens.
                let result = if e.status == axum::http::StatusCode::UNAUTHORIZED {
                    crate::metrics::BatchResult::Unauthorized
                } else {
                    crate::metrics::BatchResult::StoreError
                };
                state.reconciler.metrics().batch_refused(result);
                return e.into_response();
            }
        }
    } else if !open_route {
        match require_principal(&state, req.headers()).await {
            Ok(who) => {
                req.extensions_mut().insert(who);
            }
            Err(e) => return e.into_response(),
        }
    }
    next.run(req).await
}

/// The API's routes and their OpenAPI description, built together: a
/// route is added only through `routes!`, which adds its `#[utoipa::path]`.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ingest::post_batch))
        .routes(routes!(ingest::get_host))
        .routes(routes!(agents::list, agents::add))
        .routes(routes!(agents::revoke))
        .routes(routes!(agents::rotate))
        .routes(routes!(assets::list, assets::create))
        .routes(routes!(assets::get_one, assets::replace, assets::remove))
        .routes(routes!(assets::history))
        .routes(routes!(assets::import))
        .routes(routes!(assets::export))
        .routes(routes!(imports::nmap))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::get_one))
        .routes(routes!(alerts::history))
        .routes(routes!(alerts::ack))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::suppressions, alerts::add_suppression))
        .routes(routes!(alerts::remove_suppression))
        .routes(routes!(alerts::whois))
        .routes(routes!(alerts::report))
        .routes(routes!(alerts::certificates))
        .routes(routes!(alerts::reconcile_now))
        .routes(routes!(alerts::status))
        .routes(routes!(people::login))
        .routes(routes!(people::whoami))
        .routes(routes!(people::list, people::add))
        .routes(routes!(people::get_one))
        .routes(routes!(people::disable))
        .routes(routes!(people::enable))
        .routes(routes!(people::reset_password))
        .routes(routes!(people::set_role))
        .routes(routes!(people::tokens, people::create_token))
        .routes(routes!(people::revoke_token))
        .routes(routes!(people::audit))
        .routes(routes!(directory::list))
        .routes(routes!(directory::import))
        .routes(routes!(directory::sync_ldap))
        .routes(routes!(licences::list))
        .routes(routes!(licences::import))
        .routes(routes!(licences::report))
        .routes(routes!(retirement::list))
        .routes(routes!(retirement::get_one))
        .routes(routes!(retirement::wipe))
        .routes(routes!(retirement::dispose))
        .routes(routes!(retirement::incomplete))
        .routes(routes!(sources::list))
        .routes(routes!(sources::define, sources::remove))
        .routes(routes!(sources::load))
        .routes(routes!(sync::sync))
        .split_for_parts()
}

/// The API's OpenAPI document, as served.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes();
    openapi::CommonResponses.modify_document(&mut doc);
    doc
}

/// `GET /healthz` (no token: for load balancers and systemd): `200 ok`
/// when the store answers a trivial question within five seconds, `503`
/// otherwise (`{"error":"store unavailable"}`) — a daemon whose database
/// is down is taken out of rotation rather than accepting deliveries it
/// cannot store. The reason is logged, not shown to the unauthenticated caller.
async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let asked =
        tokio::time::timeout(std::time::Duration::from_secs(5), tokio::task::spawn_blocking(move || store.ping()))
            .await;
    let why = match asked {
        Ok(Ok(Ok(()))) => return "ok\n".into_response(),
        Ok(Ok(Err(e))) => e.to_string(),
        Ok(Err(_)) => "the check failed".to_string(),
        Err(_) => "no answer within 5 s".to_string(),
    };
    tracing::warn!(reason = %why, "health check: the store does not answer");
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
}

/// The API's routes, with the state's request body limit (413 above it).
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body;
    let gated = state.clone();
    let (api, mut doc) = routes();
    openapi::CommonResponses.modify_document(&mut doc);
    let spec: Arc<str> = Arc::from(doc.to_json().unwrap_or_else(|_| "{}".into()));
    api.merge(crate::console::router())
        .route("/healthz", get(healthz))
        .route(
            openapi::OPENAPI_PATH,
            get(move || {
                let spec = spec.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], spec.to_string()) }
            }),
        )
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(serve::BODY_TIMEOUT))
        .layer(axum::middleware::from_fn_with_state(gated, gate))
        .with_state(state)
}

/// Serve plain HTTP on `listener` until `shutdown` resolves, then finish
/// requests in flight.
///
/// # Errors
/// See [`serve::serve`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, None, router(state), shutdown).await
}
