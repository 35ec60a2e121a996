//! `GET|POST /login` and `POST /logout`: the console's sign-in, through the
//! application layer's `login` (argon2, the same cost for a wrong name as
//! for a wrong password, five failures a minute throttle the account, each
//! recorded in the audit log) — the console adds only the cookie.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::form::Form;
use super::layout::{self, Nav};
use super::session::{Signed, safe_next, set_cookie};
use crate::api::AppState;
use crate::api::people::{Source, sign_in};
use crate::app::people::{LoginError, SESSION_MS};
use crate::store::now_ms;

/// Query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    /// Where to go once signed in (a path on this site).
    pub next: Option<String>,
}

fn login_page(status: StatusCode, next: &str, name: &str, error: Option<&str>) -> Response {
    let body = html! {
        div.login.panel {
            h1 { "Sign in to Census" }
            @if let Some(e) = error { div.error role="alert" { (e) } }
            form method="post" action="/login" hx-boost="false" {
                input type="hidden" name="next" value=(next);
                label { "Name" input type="text" name="name" value=(name) autocomplete="username" required autofocus; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
            p.muted { "An admin adds people with " code { "censusd user add NAME --role viewer|analyst|admin" } "." }
        }
    };
    layout::respond(status, layout::page("Sign in", Nav::None, None, body))
}

/// `GET /login`
pub async fn page(Query(q): Query<LoginQuery>) -> Response {
    login_page(StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

/// `POST /login`: check the name and password; on success set the session cookie and go on.
pub async fn submit(State(state): State<AppState>, source: Source, headers: HeaderMap, body: Bytes) -> Response {
    // No CSRF token before a session exists: a sign-in posted from an opaque
    // origin (a sandboxed frame sends `Origin: null`) could sign a victim
    // into someone else's account, so it is refused like a cross-site one.
    if headers.get(header::ORIGIN).is_some_and(|o| o.as_bytes() == b"null") {
        return login_page(StatusCode::FORBIDDEN, "/", "", Some("Sign in from the Census page itself."));
    }
    let form = match Form::decode(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let next = safe_next(form.one("next"));
    let name = form.one("name").unwrap_or("").to_string();
    let password = form.all("password").next().unwrap_or("").to_string();
    match sign_in(&state, source, name.clone(), password).await {
        Ok(s) => {
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, set_cookie(Some(&s.token), SESSION_MS / 1000, state.secure_cookies));
            r
        }
        Err(LoginError::Invalid) => login_page(StatusCode::UNAUTHORIZED, &next, &name, Some("Wrong name or password.")),
        Err(e @ (LoginError::Throttled(ms) | LoginError::SourceThrottled(ms))) => {
            let why = if matches!(e, LoginError::Throttled(_)) {
                format!("Too many failed sign-ins for this account: try again in {} s.", (ms + 999) / 1000)
            } else {
                format!("Too many failed sign-ins from this address: try again in {} s.", (ms + 999) / 1000)
            };
            let mut r = login_page(StatusCode::TOO_MANY_REQUESTS, &next, &name, Some(&why));
            if let Ok(v) = ((ms + 999) / 1000).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(LoginError::ShuttingDown) => {
            login_page(StatusCode::SERVICE_UNAVAILABLE, &next, &name, Some("The daemon is shutting down."))
        }
        Err(LoginError::Store(crate::store::StoreError::Unavailable(why))) => {
            tracing::warn!(error = %why, "console sign-in: store unavailable");
            let mut r = login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                &name,
                Some("The database is unavailable; try again shortly."),
            );
            crate::api::retry_when_available(&mut r);
            r
        }
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "console sign-in failed");
            login_page(StatusCode::INTERNAL_SERVER_ERROR, &next, &name, Some("Internal error; see the daemon's log."))
        }
    }
}

/// `POST /logout`: end the session (in the database, not only the cookie).
pub async fn logout(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = Form::parse(&headers, &body, &signed) {
        return r.into_response();
    }
    let (who, hash) = (signed.who.clone(), signed.hash);
    if let Err(e) = state.blocking(move |s| crate::app::people::logout(s, &who, &hash, now_ms())).await {
        return layout::error_page(e.status, "Error", &e.message, Some(&signed));
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, set_cookie(None, 0, state.secure_cookies));
    r
}
