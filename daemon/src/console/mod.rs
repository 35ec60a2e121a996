//! The web console, served by censusd itself at `/` on the API's listener
//! (same TLS): server-rendered pages (maud templates, checked at compile
//! time), htmx for partial updates, CSS and scripts embedded in the binary —
//! no CDN, works offline, pages readable without JavaScript.
//!
//! It calls the same application layer as the API ([`crate::app`]): the
//! person signed in is the only name an action can record, and every action
//! leaves the same audit record the API's does.
//!
//! Security: sessions and CSRF in [`session`]; every response carries a
//! strict Content-Security-Policy (scripts and styles from `/static/` only,
//! no inline script, no framing, forms post only here) — see [`headers`].

mod admin;
mod bulk;
mod dashboard;
mod devices;
mod edit;
mod form;
mod import;
mod inventory;
mod layout;
mod lifecycle;
mod queue;
mod review;
mod saved;
mod session;
mod signin;
mod trends;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::AppState;

pub use session::{COOKIE, cookie, csrf_for};

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes (merged into the API's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(queue::page))
        .route("/alerts/act", post(queue::act))
        .route("/alerts/suppress-selected", post(bulk::suppress))
        .route("/alerts/dispose-selected", post(bulk::dispose))
        .route("/alerts/{id}/adopt", get(review::adopt_form).post(review::adopt))
        .route("/alerts/{id}/link", get(review::link_form).post(review::link))
        .route("/alerts/{id}/suppress", get(review::suppress_form).post(review::suppress))
        .route("/alerts/{id}/retire", post(review::retire))
        .route("/saved", post(saved::save))
        .route("/saved/delete", post(saved::delete))
        .route("/devices", get(devices::page))
        .route("/devices/adopt", post(devices::adopt))
        .route("/devices/link", post(devices::link))
        .route("/login", get(signin::page).post(signin::submit))
        .route("/logout", post(signin::logout))
        .route("/dashboard", get(dashboard::page))
        .route("/lifecycle", get(lifecycle::page))
        .route("/audit", get(admin::audit))
        .route("/agents", get(admin::agents).post(admin::add_agent))
        .route("/agents/{name}/revoke", post(admin::revoke_agent))
        .route("/inventory", get(inventory::list))
        .route("/inventory.csv", get(inventory::export))
        .route("/import", get(import::form).post(import::plan))
        .route("/import/apply", post(import::apply))
        .route("/inventory/{tag}", get(inventory::asset))
        .route("/inventory/{tag}/edit", get(edit::form).post(edit::save))
        .route("/static/{file}", get(static_file))
        .layer(axum::middleware::from_fn(headers))
}

/// Security headers on every console response, and `Server-Timing: app;dur=MS`
/// — the time the page took to build, which the console benchmark reads.
async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let started = std::time::Instant::now();
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={:.2}", started.elapsed().as_secs_f64() * 1000.0)) {
        h.insert(HeaderName::from_static("server-timing"), v);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The embedded files: (name, content type, bytes).
const STATIC: &[(&str, &str, &[u8])] = &[
    ("census.css", "text/css; charset=utf-8", include_bytes!("../../console/static/census.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("../../console/static/console.js")),
    // htmx 2.0.11, unmodified (console/static/README.md).
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../console/static/htmx.min.js")),
];

async fn static_file(Path(file): Path<String>) -> Response {
    match STATIC.iter().find(|(name, _, _)| *name == file) {
        Some((_, ct, bytes)) => {
            ([(header::CONTENT_TYPE, *ct), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}
