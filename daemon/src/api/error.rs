//! API errors: a status code and a JSON body `{"error": …}` that names the
//! field at fault where there is one. Internal details are logged, not sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::register::FieldError;
use crate::register::csv::ImportError;
use crate::store::StoreError;

/// Seconds a 503 asks the caller to wait (`Retry-After`): about how long a
/// PostgreSQL restart or failover takes to answer again.
pub const UNAVAILABLE_RETRY_S: u64 = 5;

/// Mark `r` (a 503: the database unavailable) with `Retry-After:`
/// [`UNAVAILABLE_RETRY_S`] — the API's answers and the console's pages alike.
pub fn retry_when_available(r: &mut Response) {
    r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(UNAVAILABLE_RETRY_S));
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Message for the client.
    pub message: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// Row- or field-level details (imports, validation).
    pub details: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: &'a [serde_json::Value],
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), field: None, details: Vec::new() }
    }
    /// 400 about `field`.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.into()), ..ApiError::new(StatusCode::BAD_REQUEST, message) }
    }
    /// 401.
    pub fn unauthorized() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "missing, wrong or revoked bearer token")
    }
    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }
    /// 429 with `Retry-After: retry_after_s` (whole seconds).
    pub fn too_many_requests(message: impl Into<String>, retry_after_s: u64) -> Response {
        let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(retry_after_s));
        r
    }
    /// 400 listing validation problems.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let first = errors.first().map(|e| e.field.clone()).filter(|f| !f.is_empty());
        let mut summary = errors
            .iter()
            .take(SUMMARISED)
            .map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) })
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > SUMMARISED {
            summary.push_str(&format!("; and {} more (see details)", errors.len() - SUMMARISED));
        }
        ApiError { status: StatusCode::BAD_REQUEST, message: summary, field: first, details: listed(&errors) }
    }
    /// 400 listing import rows at fault.
    pub fn import(errors: Vec<ImportError>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{} problem(s) in the import; nothing was stored", errors.len()),
            field: None,
            details: listed(&errors),
        }
    }
}

/// Problems a 400 lists in `details` (the rest are counted in a last entry):
/// a request of 2 MB could otherwise answer 70 MB (200,000 bad list items,
/// each named; review of 2026-12-07).
pub const DETAILS_LISTED: usize = 1_000;

/// Problems a 400's `error` text spells out (the rest: "and N more").
const SUMMARISED: usize = 10;

/// `problems` as `details`: the first [`DETAILS_LISTED`], then how many more.
fn listed<T: Serialize>(problems: &[T]) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> =
        problems.iter().take(DETAILS_LISTED).filter_map(|e| serde_json::to_value(e).ok()).collect();
    if problems.len() > DETAILS_LISTED {
        out.push(serde_json::json!({
            "field": "",
            "message": format!("{} more problems, not listed", problems.len() - DETAILS_LISTED),
        }));
    }
    out
}

/// Decode a JSON request body; a problem is a 400 naming where it is
/// (`segments[2]`, `expires_in`).
pub fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body this decodes is an object: an array would fill a struct by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "the body must be a JSON object (`{…}`)"));
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_field(path.clone(), format!("malformed body at `{path}`: {}", e.into_inner()))
    })
}

/// [`json_body`] for a body that may be left out: no body (or JSON `null`,
/// as the OpenAPI document allows) is `T::default()`.
pub fn optional_json_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" { Ok(T::default()) } else { json_body(bytes) }
}

impl From<crate::app::alerts::RuleError> for ApiError {
    fn from(e: crate::app::alerts::RuleError) -> Self {
        match e {
            crate::app::alerts::RuleError::Invalid { field, message } => ApiError::bad_field(field, message),
            crate::app::alerts::RuleError::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::agents::AgentError> for ApiError {
    fn from(e: crate::app::agents::AgentError) -> Self {
        match e {
            crate::app::agents::AgentError::Invalid { field, message } => ApiError::bad_field(field, message),
            crate::app::agents::AgentError::NotFound(what) => ApiError::not_found(what),
            crate::app::agents::AgentError::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::register::ImportFailure> for ApiError {
    fn from(e: crate::app::register::ImportFailure) -> Self {
        match e {
            crate::app::register::ImportFailure::Invalid(errors) => ApiError::import(errors),
            crate::app::register::ImportFailure::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::directory::SyncFailure> for ApiError {
    fn from(e: crate::app::directory::SyncFailure) -> Self {
        match e {
            // The directory server's failure, not the caller's nor ours.
            crate::app::directory::SyncFailure::Ldap(l) => ApiError::new(StatusCode::BAD_GATEWAY, l.to_string()),
            crate::app::directory::SyncFailure::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::sync::SyncFailure> for ApiError {
    fn from(e: crate::app::sync::SyncFailure) -> Self {
        use crate::connectors::sync::SyncError as S;
        match e {
            // The upstream system's failure, not the caller's nor ours.
            crate::app::sync::SyncFailure::Upstream(S::Refused(why)) => ApiError::new(StatusCode::CONFLICT, why),
            crate::app::sync::SyncFailure::Upstream(S::Config(why)) => ApiError::new(StatusCode::CONFLICT, why),
            crate::app::sync::SyncFailure::Upstream(u) => ApiError::new(StatusCode::BAD_GATEWAY, u.to_string()),
            crate::app::sync::SyncFailure::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::retirement::RetireError> for ApiError {
    fn from(e: crate::app::retirement::RetireError) -> Self {
        use crate::app::retirement::RetireError as R;
        match e {
            R::Invalid { field, message } => ApiError::bad_field(field, message),
            R::NotRetired(why) => ApiError::new(StatusCode::CONFLICT, why),
            R::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::sources::SourceError> for ApiError {
    fn from(e: crate::app::sources::SourceError) -> Self {
        use crate::app::sources::SourceError as S;
        match e {
            S::Invalid(problems) => ApiError::invalid(
                problems.into_iter().map(|(field, message)| FieldError { field: field.into(), message }).collect(),
            ),
            S::NoSuchSource(name) => ApiError::not_found(format!("coverage source `{name}`")),
            S::File(errors) => ApiError::import(errors),
            S::Store(s) => s.into(),
        }
    }
}

impl From<crate::app::people::PeopleError> for ApiError {
    fn from(e: crate::app::people::PeopleError) -> Self {
        match e {
            crate::app::people::PeopleError::Invalid { field, message } => ApiError::bad_field(field, message),
            crate::app::people::PeopleError::NotFound(what) => ApiError::not_found(what),
            crate::app::people::PeopleError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, format!("{what} already exists")),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Refused(why) => ApiError::new(StatusCode::CONFLICT, why),
            StoreError::Busy(why) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{why}; try again shortly"))
            }
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; nothing was changed — try again shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal storage error; see the daemon's log")
            }
        }
    }
}

/// Characters of a message, or of a field's name, an error answer echoes
/// at most; longer text is cut and what was cut counted. Messages quote
/// what was sent (a path segment, a cell, a key), and what was sent can be
/// megabytes (review of 2026-12-08: `GET /api/v1/hosts/<5,000 characters>`
/// answered the whole path back).
pub const ECHOED_CHARS: usize = 2_000;

/// `text` cut to [`ECHOED_CHARS`] characters, saying how many more there were.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(ECHOED_CHARS) {
        None => text.into(),
        Some((end, _)) => {
            let more = text[end..].chars().count();
            format!("{}… ({more} more characters not shown)", &text[..end]).into()
        }
    }
}

/// Problems as a page lists them: the first [`DETAILS_LISTED`], each
/// [`cut`], then one line counting the rest — as an API answer lists them.
pub fn listed_lines(problems: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut more = 0usize;
    for p in problems {
        if out.len() < DETAILS_LISTED {
            out.push(cut(&p).into_owned());
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(format!("{more} more problems, not listed"));
    }
    out
}

/// A problem as `details` lists it, its text cut as [`cut`] does.
fn cut_detail(mut detail: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = detail.as_object_mut() {
        for v in obj.values_mut() {
            if let Some(s) = v.as_str()
                && let std::borrow::Cow::Owned(short) = cut(s)
            {
                *v = serde_json::Value::String(short);
            }
        }
    }
    detail
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details: Vec<serde_json::Value> = self.details.into_iter().map(cut_detail).collect();
        let (message, field) = (cut(&self.message), self.field.as_deref().map(cut));
        let body = Body { error: &message, field: field.as_deref(), details: &details };
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            retry_when_available(&mut r);
        }
        r
    }
}

/// Every error answer of the API in the one JSON shape (`{"error": …}`)
/// (the console's HTML error pages pass through as they are): the
/// framework's own rejections (a path segment that is not a number, a query
/// that does not parse, a body over the limit) come as plain text; they are
/// rewritten here with their text as the message and their headers kept.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // The framework's messages are short; a longer body is cut, not held.
    let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    // axum names the query parameter at fault: "Failed to deserialize query string: limit: invalid digit".
    let field = message
        .strip_prefix("Failed to deserialize query string: ")
        .and_then(|rest| rest.split_once(": "))
        .map(|(f, _)| f.to_string())
        .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    let mut out = match field {
        Some(f) => ApiError::bad_field(f, message),
        None => ApiError::new(status, message),
    }
    .into_response();
    for (k, v) in &parts.headers {
        if k != CONTENT_TYPE && k != CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (review of 2026-12-07): 200,000 bad list items in a 2 MB
    /// request answered 74 MB, every problem in `details` and again in `error`.
    #[test]
    fn a_400_lists_a_thousand_problems_and_counts_the_rest() {
        let errors: Vec<FieldError> = (0..200_000)
            .map(|i| FieldError { field: format!("external_ids[{i}]"), message: "is not SYSTEM:ID".into() })
            .collect();
        let e = ApiError::invalid(errors);
        assert_eq!(e.details.len(), DETAILS_LISTED + 1);
        assert_eq!(e.details[DETAILS_LISTED]["message"], "199000 more problems, not listed");
        assert!(e.message.ends_with("; and 199990 more (see details)"), "{}", e.message);
        assert!(e.message.len() < 1_000, "{}", e.message.len());
        assert_eq!(e.field.as_deref(), Some("external_ids[0]"));
        let rows: Vec<ImportError> =
            (0..5).map(|row| ImportError { row, line: None, column: "macs".into(), message: "bad".into() }).collect();
        assert_eq!(ApiError::import(rows).details.len(), 5, "a few problems are all listed");
    }

    /// Regression (review of 2026-12-08): `GET /api/v1/hosts/<5,000
    /// characters>` echoed the whole path in its 400; every echoed text is
    /// cut, and what was cut counted.
    #[tokio::test]
    async fn an_error_answer_echoes_at_most_two_thousand_characters_of_what_was_sent() {
        let sent = "é".repeat(5_000);
        let mut e = ApiError::bad_field(sent.clone(), format!("`{sent}` is not an IP address"));
        e.details = vec![serde_json::json!({ "row": 1, "column": "macs", "message": sent })];
        let body = axum::body::to_bytes(e.into_response().into_body(), usize::MAX).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let error = v["error"].as_str().unwrap();
        assert!(error.starts_with("`éé") && error.ends_with("… (3023 more characters not shown)"), "{error}");
        assert_eq!(error.chars().count(), ECHOED_CHARS + "… (3023 more characters not shown)".chars().count());
        assert!(v["field"].as_str().unwrap().ends_with("… (3000 more characters not shown)"));
        assert!(v["details"][0]["message"].as_str().unwrap().ends_with("… (3000 more characters not shown)"));
        assert_eq!(v["details"][0]["row"], 1);
        assert!(body.len() < 20_000, "{}", body.len());
        // Short text is sent as it is.
        let body = axum::body::to_bytes(
            ApiError::bad_field("ip", "`x` is not an IP address").into_response().into_body(),
            1 << 20,
        )
        .await
        .unwrap();
        assert_eq!(&body[..], br#"{"error":"`x` is not an IP address","field":"ip"}"#);
    }

    /// A page lists problems as an answer does: a thousand, each cut, then a count.
    #[test]
    fn a_page_lists_a_thousand_problems_each_cut_and_counts_the_rest() {
        let lines = listed_lines((0..1_500).map(|i| if i == 0 { "x".repeat(5_000) } else { format!("p{i}") }));
        assert_eq!(lines.len(), DETAILS_LISTED + 1);
        assert!(lines[0].ends_with("… (3000 more characters not shown)"));
        assert_eq!(lines[DETAILS_LISTED - 1], "p999");
        assert_eq!(lines[DETAILS_LISTED], "500 more problems, not listed");
        assert_eq!(listed_lines(["a".to_string()]), ["a"]);
    }
}
