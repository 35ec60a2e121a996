//! The page shell every console page shares (navigation, who is signed in,
//! sign-out), error pages, and the small formatting helpers pages use.
//!
//! Templates are maud: checked at compile time, and every value written
//! into a page is HTML-escaped unless wrapped in `PreEscaped` — which only
//! ever wraps text written here, never anything that came from the network.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Signed;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The review queue.
    Queue,
    /// Unregistered devices.
    Devices,
    /// The register.
    Inventory,
    /// The dashboard.
    Dashboard,
    /// Deployments incomplete and retirements.
    Lifecycle,
    /// Agents (admins).
    Agents,
    /// The audit log (admins).
    Audit,
    /// No entry (sign-in, errors).
    None,
}

/// A whole page: `title`, the navigation with `here` marked, the signed-in
/// person (if any) with the sign-out form, and `body`.
pub fn page(title: &str, here: Nav, signed: Option<&Signed>, body: Markup) -> Markup {
    let nav = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(n == here).then_some("here")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                title { (title) " · Census" }
                link rel="stylesheet" href="/static/census.css";
                script src="/static/htmx.min.js" defer {}
                script src="/static/console.js" defer {}
            }
            body hx-boost="true" {
                header.top {
                    span.brand { "CENSUS" }
                    @if signed.is_some() {
                        nav {
                            (nav(Nav::Queue, "/", "Review queue"))
                            (nav(Nav::Devices, "/devices", "Devices"))
                            (nav(Nav::Inventory, "/inventory", "Inventory"))
                            (nav(Nav::Dashboard, "/dashboard", "Dashboard"))
                            (nav(Nav::Lifecycle, "/lifecycle", "Lifecycle"))
                            @if signed.is_some_and(|s| s.may(crate::people::Role::Admin)) {
                                (nav(Nav::Agents, "/agents", "Agents"))
                                (nav(Nav::Audit, "/audit", "Audit log"))
                            }
                        }
                    }
                    @if let Some(s) = signed {
                        div.who {
                            span { (s.who.name) " · " (s.who.role) }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A refused request's page (boxed: a response is large to carry in a `Result`).
#[derive(Debug)]
pub struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(r: Response) -> Self {
        Refusal(Box::new(r))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// An HTML response with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

/// An error page: `status`, a heading and a sentence.
pub fn error_page(status: StatusCode, heading: &str, why: &str, signed: Option<&Signed>) -> Response {
    let mut r = respond(
        status,
        page(
            heading,
            Nav::None,
            signed,
            html! {
                h1 { (heading) }
                div.error { (crate::api::cut(why)) }
                p { a href="/" { "Back to the review queue" } }
            },
        ),
    );
    // The database unavailable: say when to try again, as the API does.
    if status == StatusCode::SERVICE_UNAVAILABLE {
        crate::api::retry_when_available(&mut r);
    }
    r
}

/// Unix ms as `2026-12-02 03:40 UTC` (empty for 0 or out of range).
pub fn when(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_default()
}

/// How long ago `ms` was, at `now_ms`, in the largest whole unit (`5m`, `3h`, `2d`).
pub fn ago(ms: i64, now_ms: i64) -> String {
    let s = (now_ms - ms).max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Text from the network or the register, shown as text: control
/// characters (which a page would not show, but a copy-paste would carry)
/// made visible as escapes. HTML escaping is maud's, on top.
pub fn text(s: &str) -> String {
    if s.chars().any(char::is_control) { s.chars().flat_map(char::escape_debug).collect() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_text_is_escaped_never_markup() {
        let hostile = "<script>alert(1)</script>\u{1b}[2J";
        let out = html! { td { (text(hostile)) } }.into_string();
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(out.contains("\\u{1b}"), "control characters shown as escapes: {out}");
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(when(1_796_181_822_940), "2026-12-02 03:23 UTC");
        assert_eq!(when(0), "");
        assert_eq!(ago(1_000, 61_000), "1m");
        assert_eq!(ago(0, 3 * 86_400_000), "3d");
    }

    /// Break-attempt regression: a console page answering 503 (the database
    /// unavailable) did not say when to try again, as the API does.
    #[test]
    fn an_unavailable_page_says_when_to_try_again_and_others_do_not() {
        let r = error_page(StatusCode::SERVICE_UNAVAILABLE, "Error", "the database is unavailable", None);
        assert_eq!(r.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
        let r = error_page(StatusCode::NOT_FOUND, "No such asset", "no", None);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
