//! Local stand-ins for Snipe-IT and NetBox, for the register-sync tests:
//! neither can run in CI here, so each serves the documented subset of its
//! API on 127.0.0.1 — the same paths, authentication headers and failures,
//! paging and bodies shaped as the projects document them:
//!
//! - Snipe-IT (`/api/v1/hardware`, "Assets" in its API reference):
//!   `Authorization: Bearer TOKEN`, 401 `{"message": "Unauthenticated."}`;
//!   `?limit&offset` paging answered `{"total", "rows"}`; `PATCH
//!   /api/v1/hardware/{id}` answered `{"status": "success"|"error", "messages", "payload"}`.
//! - NetBox (REST API, "Overview" and "Filtering"): `Authorization: Token
//!   TOKEN`, 403 `{"detail": "Invalid token"}`; `?limit&offset` paging
//!   answered `{"count", "next", "previous", "results"}` with absolute `next` links.
//!
//! A test can cap the page size (to force paging), answer 429 with
//! `Retry-After: 1` a number of times, or answer 500 at one path and
//! offset; every request and every PATCH body is recorded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// What the stand-in holds and how it misbehaves.
#[derive(Default)]
pub struct Data {
    /// The token it accepts.
    pub token: String,
    /// Snipe-IT's hardware rows.
    pub hardware: Vec<Value>,
    /// NetBox's lists, by path (`/api/dcim/devices/`, …).
    pub lists: HashMap<String, Vec<Value>>,
    /// Most results a page holds, whatever `limit` asks.
    pub page_cap: usize,
    /// Answer this many requests with 429 and `Retry-After: 1`.
    pub rate_limited: usize,
    /// Answer 500 at this path and offset.
    pub fail_at: Option<(String, usize)>,
    /// Delete Snipe-IT hardware `id` once this many requests were answered (an asset deleted mid-read).
    pub delete_after: Option<(usize, u64)>,
    /// With `delete_after`, add this row at the same moment (the total stays the same).
    pub add_with_delete: Option<Value>,
    /// Every request: `METHOD path?query`.
    pub requests: Vec<String>,
    /// Every PATCH: path and body.
    pub patches: Vec<(String, Value)>,
}

/// A running stand-in.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its data, to change between syncs.
    pub data: Arc<Mutex<Data>>,
}

impl Upstream {
    /// GETs and PATCHes made since the start.
    pub fn requests(&self) -> Vec<String> {
        self.data.lock().requests.clone()
    }
    /// PATCHes made since the start.
    pub fn patches(&self) -> Vec<(String, Value)> {
        self.data.lock().patches.clone()
    }
}

/// The Snipe-IT stand-in.
pub async fn snipeit(token: &str, hardware: Vec<Value>) -> Upstream {
    let data = Data { token: token.into(), hardware, page_cap: 500, ..Default::default() };
    start(data, true).await
}

/// The NetBox stand-in with `lists` by path.
pub async fn netbox(token: &str, lists: Vec<(&str, Vec<Value>)>) -> Upstream {
    let lists = lists.into_iter().map(|(p, v)| (p.to_string(), v)).collect();
    let data = Data { token: token.into(), lists, page_cap: 1000, ..Default::default() };
    start(data, false).await
}

async fn start(data: Data, snipe: bool) -> Upstream {
    let data = Arc::new(Mutex::new(data));
    let app = if snipe { Router::new().fallback(snipe_handler) } else { Router::new().fallback(netbox_handler) };
    let app = app.with_state(data.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { url, data }
}

fn num(q: &HashMap<String, String>, k: &str, default: usize) -> usize {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The misbehaviour and the authentication every request goes through
/// first (`scheme` is the system's: `Bearer` or `Token`); `Some` answers it.
fn common(
    d: &mut Data,
    method: &Method,
    uri: &Uri,
    offset: usize,
    headers: &HeaderMap,
    scheme: &str,
) -> Option<Response> {
    d.requests.push(format!("{method} {uri}"));
    if let Some((after, id)) = d.delete_after
        && d.requests.len() > after
    {
        d.hardware.retain(|r| r["id"] != id);
        if let Some(row) = d.add_with_delete.take() {
            d.hardware.push(row);
        }
        d.delete_after = None;
    }
    if d.rate_limited > 0 {
        d.rate_limited -= 1;
        return Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "Too Many Requests").into_response());
    }
    if d.fail_at.as_ref().is_some_and(|(p, o)| p == uri.path() && *o == offset) {
        return Some(
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "Server Error"}))).into_response(),
        );
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("{scheme} {}", d.token)) {
        return Some(if scheme == "Bearer" {
            (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Unauthenticated."}))).into_response()
        } else {
            (StatusCode::FORBIDDEN, axum::Json(json!({"detail": "Invalid token"}))).into_response()
        });
    }
    None
}

async fn snipe_handler(
    State(data): State<Arc<Mutex<Data>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut d = data.lock();
    let offset = num(&q, "offset", 0);
    if let Some(r) = common(&mut d, &method, &uri, offset, &headers, "Bearer") {
        return r;
    }
    let path = uri.path().to_string();
    if method == Method::GET && path == "/api/v1/hardware" {
        let limit = num(&q, "limit", 50).min(d.page_cap);
        let rows: Vec<Value> = d.hardware.iter().skip(offset).take(limit).cloned().collect();
        return axum::Json(json!({"total": d.hardware.len(), "rows": rows})).into_response();
    }
    if method == Method::GET
        && let Some(id) = path.strip_prefix("/api/v1/hardware/").and_then(|i| i.parse::<u64>().ok())
    {
        // Snipe-IT answers an unknown asset with HTTP 200 and an error status.
        return match d.hardware.iter().find(|r| r["id"] == id) {
            Some(row) => axum::Json(row.clone()).into_response(),
            None => axum::Json(json!({"status": "error", "messages": "Asset does not exist.", "payload": null}))
                .into_response(),
        };
    }
    if method == Method::PATCH
        && let Some(id) = path.strip_prefix("/api/v1/hardware/").and_then(|i| i.parse::<u64>().ok())
    {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        d.patches.push((path.clone(), body.clone()));
        let Some(row) = d.hardware.iter_mut().find(|r| r["id"] == id) else {
            return axum::Json(json!({"status": "error", "messages": "Asset does not exist.", "payload": null}))
                .into_response();
        };
        for (k, v) in body.as_object().into_iter().flatten() {
            let fields = row["custom_fields"].as_object_mut().into_iter().flat_map(|m| m.values_mut());
            for f in fields.filter(|f| f["field"] == *k) {
                f["value"] = v.clone();
            }
        }
        let payload = row.clone();
        return axum::Json(json!({"status": "success", "messages": "Asset updated successfully.", "payload": payload}))
            .into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({"status": "error", "messages": "404 endpoint not found"})))
        .into_response()
}

async fn netbox_handler(
    State(data): State<Arc<Mutex<Data>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut d = data.lock();
    let offset = num(&q, "offset", 0);
    if let Some(r) = common(&mut d, &method, &uri, offset, &headers, "Token") {
        return r;
    }
    let path = uri.path().to_string();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    if method == Method::GET
        && let Some(all) = d.lists.get(&path)
    {
        let limit = num(&q, "limit", 50).min(d.page_cap);
        let results: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        let link = |o: usize| Value::String(format!("http://{host}{path}?limit={limit}&offset={o}"));
        let next = if offset + results.len() < all.len() { link(offset + results.len()) } else { Value::Null };
        let previous = if offset > 0 { link(offset.saturating_sub(limit)) } else { Value::Null };
        return axum::Json(json!({"count": all.len(), "next": next, "previous": previous, "results": results}))
            .into_response();
    }
    if method == Method::GET
        && let Some((list, id)) = path.trim_end_matches('/').rsplit_once('/')
        && let Ok(id) = id.parse::<u64>()
    {
        return match d.lists.get(&format!("{list}/")).and_then(|l| l.iter().find(|o| o["id"] == id)) {
            Some(o) => axum::Json(o.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "No Device matches the given query."})))
                .into_response(),
        };
    }
    if method == Method::PATCH {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        d.patches.push((path.clone(), body.clone()));
        let (list, id) = path.trim_end_matches('/').rsplit_once('/').unwrap_or_default();
        let id: u64 = id.parse().unwrap_or(0);
        let Some(obj) = d.lists.get_mut(&format!("{list}/")).and_then(|l| l.iter_mut().find(|o| o["id"] == id)) else {
            return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "No Device matches the given query."})))
                .into_response();
        };
        for (k, v) in body["custom_fields"].as_object().into_iter().flatten() {
            obj["custom_fields"][k] = v.clone();
        }
        return axum::Json(obj.clone()).into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not found."}))).into_response()
}
