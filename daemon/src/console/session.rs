//! Console sign-in: the session cookie, the CSRF token and the checks every
//! form goes through.
//!
//! A session is the application layer's sign-in session (a person token of
//! kind `session`, 12 hours, stored hashed; it ends on sign-out, password
//! change or disable). The browser holds it only in a cookie that scripts
//! cannot read (`HttpOnly`), that no other site's page sends
//! (`SameSite=Strict`) and, under TLS, only over TLS (`Secure`).
//!
//! Every form carries a CSRF token derived from the session token
//! (SHA-256 of a fixed label and the token): unguessable without the
//! cookie, the same for the whole session, nothing more to store. A POST
//! whose token does not match, or whose `Origin` names another site, is
//! refused with 403 before anything is done.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout::{self, Refusal};
use crate::api::AppState;
use crate::auth::{self, TokenHash};
use crate::people::{Principal, Role};
use crate::store::now_ms;

/// The session cookie's name.
pub const COOKIE: &str = "census_session";

/// A signed-in person, with the CSRF token their forms must carry.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Who.
    pub who: Principal,
    /// The CSRF token for this session's forms.
    pub csrf: String,
    /// The session token's hash (to end it on sign-out).
    pub hash: TokenHash,
}

impl Signed {
    /// May this person do what `role` may?
    pub fn may(&self, role: Role) -> bool {
        self.who.may(role)
    }

    /// Refuse unless the person holds `role`: a 403 page naming what is needed.
    ///
    /// # Errors
    /// The 403 page.
    pub fn require(&self, role: Role) -> Result<(), Refusal> {
        if self.may(role) {
            Ok(())
        } else {
            let why = format!("This needs the {role} role; you ({}) are {}.", self.who.name, self.who.role);
            Err(layout::error_page(StatusCode::FORBIDDEN, "Not allowed", &why, Some(self)).into())
        }
    }

    /// Refuse a form whose CSRF token is not this session's.
    ///
    /// # Errors
    /// The 403 page.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Refusal> {
        let ok = given.is_some_and(|g| auth::same(&auth::hash_token(g), &auth::hash_token(&self.csrf)));
        if ok {
            Ok(())
        } else {
            tracing::warn!(person = %self.who.name, "console form refused: missing or wrong CSRF token");
            Err(layout::error_page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "The form's security token is missing or belongs to another session. Reload the page and try again.",
                Some(self),
            )
            .into())
        }
    }
}

/// The CSRF token of a session token.
pub fn csrf_for(session_token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, format!("census-console-csrf\0{session_token}").as_bytes());
    d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that holds a session (`max_age_s` seconds), or ends it (`None`).
pub fn set_cookie(token: Option<&str>, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = match token {
        Some(t) => format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("census_session=; Max-Age=0"))
}

/// Where to go after signing in: a path on this site, never another site (`//host`, `/\host`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

/// A cross-site POST: an `Origin` (or, without one, a `Referer`) naming a host other than `Host`.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null");
    match from {
        None => false,
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            !authority.eq_ignore_ascii_case(host)
        }
    }
}

fn to_login(parts: &Parts) -> Response {
    let next = if parts.method == Method::GET {
        parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    };
    let encoded = percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC);
    let mut r = Redirect::to(&format!("/login?next={encoded}")).into_response();
    if cookie(&parts.headers, COOKIE).is_some() {
        // A cookie that no longer signs anyone in (expired, signed out, disabled): drop it.
        r.headers_mut().insert(header::SET_COOKIE, set_cookie(None, 0, false));
    }
    r
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE) else { return Err(to_login(parts)) };
        let hash = auth::hash_token(&token);
        let now = now_ms();
        // Only a sign-in session: an API token in the cookie signs no one in.
        match state.blocking(move |s| s.session_principal(&hash, now)).await {
            Ok(Some(who)) => Ok(Signed { who, csrf: csrf_for(&token), hash }),
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(layout::error_page(e.status, "Error", &e.message, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_after_sign_in_stays_on_this_site() {
        assert_eq!(safe_next(Some("/inventory?q=a")), "/inventory?q=a");
        for hostile in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/\r\nSet-Cookie: x"] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_post_from_another_site_is_cross_site_and_one_from_here_is_not() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8440"));
        assert!(!cross_site(&h), "no Origin: a same-site form in an old browser, or a tool");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8440"));
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8440.evil.example"));
        assert!(cross_site(&h));
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_under_tls() {
        let v = set_cookie(Some("census_abc"), 60, true);
        let v = v.to_str().unwrap();
        for part in ["census_session=census_abc", "HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=60"] {
            assert!(v.contains(part), "{v}");
        }
        assert!(!set_cookie(Some("t"), 60, false).to_str().unwrap().contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; census_session=tok; b=2"));
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("tok"));
        assert_ne!(csrf_for("tok"), csrf_for("tok2"));
        assert_eq!(csrf_for("tok").len(), 32);
    }
}
