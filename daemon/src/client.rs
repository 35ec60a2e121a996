//! The operator CLI's HTTP client: every `censusd` subcommand but `serve`
//! and `check-config` goes through the API with the admin token, so it works
//! the same against a local or a remote daemon.
//!
//! Where to connect: `--url`, else `CENSUS_URL`, else the `server.listen`
//! address of the configuration file. The token: `CENSUS_TOKEN` (a
//! person's, so their actions carry their name), else `CENSUS_ADMIN_TOKEN`,
//! else the configuration's admin token file (the built-in admin).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};

use crate::config::DaemonConfig;

/// One path segment, percent-encoded: a name or tag can never climb out of
/// its place in the URL (`../assets/SRV-1` stays one segment).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The most pages [`Client::get_all`] follows (10 million items at the default page size).
pub const MAX_PAGES: usize = 10_000;

/// A client for the operator API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// The daemon's base URL for a configuration: `listen` with a usable host.
pub fn url_from_config(cfg: &DaemonConfig) -> String {
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    format!("{}://{addr}", if cfg.tls.is_some() { "https" } else { "http" })
}

/// Install ring as rustls' process-wide crypto provider (once).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// A client for `base` with the admin `token`; `ca` trusts a private CA (PEM).
    pub fn new(base: &str, token: &str, ca: Option<&Path>) -> anyhow::Result<Self> {
        install_crypto();
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(300));
        if let Some(ca) = ca {
            let pem = census_proto::config::read_operator_bytes(ca, census_proto::config::MAX_PEM_FILE)
                .map_err(|e| anyhow::anyhow!("{} {e}", ca.display()))?;
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).context("CA file is not PEM")?);
        }
        Ok(Client { http: b.build()?, base: base.trim_end_matches('/').to_string(), token: token.trim().to_string() })
    }

    /// GET `path` with a query (each value encoded) and decode the JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let path_and_query = if query.is_empty() {
            path.to_string()
        } else {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", seg(k), seg(v))).collect();
            format!("{path}?{}", q.join("&"))
        };
        let (_, out) = self.call(Method::GET, &path_and_query, None).await?;
        serde_json::from_slice(&out).context("the daemon's answer is not the JSON expected")
    }

    /// GET every page of a list (`path` with `query`), following the daemon's
    /// `Census-Next-Cursor` until the last page, so a listing is never cut at one page.
    ///
    /// # Errors
    /// As [`Client::call`]; also when an answer is not a JSON array, or when the list
    /// runs past [`MAX_PAGES`] pages (a daemon that never stops paging).
    pub async fn get_all(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", seg(k), seg(v))).collect();
            if let Some(c) = &cursor {
                q.push(format!("cursor={}", seg(c)));
            }
            let path_and_query = match (q.is_empty(), path.contains('?')) {
                (true, _) => path.to_string(),
                (false, true) => format!("{path}&{}", q.join("&")),
                (false, false) => format!("{path}?{}", q.join("&")),
            };
            let (_, headers, out) = self.call_with_headers(Method::GET, &path_and_query, None, None).await?;
            let page: Vec<serde_json::Value> =
                serde_json::from_slice(&out).context("the daemon's answer is not the JSON list expected")?;
            all.extend(page);
            cursor = headers.get("census-next-cursor").and_then(|v| v.to_str().ok()).map(String::from);
            if cursor.is_none() {
                return Ok(all);
            }
        }
        bail!("{path} did not end after {MAX_PAGES} pages")
    }

    /// Send a request; a non-2xx answer becomes an error carrying the daemon's message.
    ///
    /// # Errors
    /// The daemon unreachable, or its non-2xx answer (status, message and any field details).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let (status, _, bytes) = self.call_with_headers(method, path, body, None).await?;
        Ok((status, bytes))
    }

    /// [`Client::call`] for work that may take long (a register sync that
    /// waits out rate limits): the answer is awaited for up to `timeout`.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn call_long(
        &self,
        method: Method,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let (status, _, bytes) = self.call_with_headers(method, path, None, Some(timeout)).await?;
        Ok((status, bytes))
    }

    /// [`Client::call`], with the answer's headers.
    async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        timeout: Option<Duration>,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        // A URL parser drops `.` and `..` segments, encoded or not (`%2E%2E`
        // too), so `agent revoke ..` would reach another route: refused here.
        let path_only = path.split(['?', '#']).next().unwrap_or(path);
        if path_only.split('/').any(|s| matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..")) {
            bail!("`.` and `..` are not names (in {path_only})");
        }
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        if let Some((bytes, content_type)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?.to_vec();
        if !status.is_success() {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            let mut msg =
                v["error"].as_str().map(String::from).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            for d in v["details"].as_array().into_iter().flatten() {
                if let Some(line) = detail_line(d) {
                    msg.push_str(&format!("\n  {line}"));
                }
            }
            bail!("the daemon answered {}: {msg}", status.as_u16());
        }
        Ok((status, headers, bytes))
    }
}

/// One problem of an API error's `details` for people: `row 3 (line 4),
/// column macs: …` for a file's row, `the file, column X: …` for its header
/// or the file as a whole (row 0), `field: …` for a field.
fn detail_line(d: &serde_json::Value) -> Option<String> {
    let message = d.get("message")?.as_str().unwrap_or("");
    let column = d.get("column").or_else(|| d.get("field")).and_then(|c| c.as_str()).filter(|c| !c.is_empty());
    let place =
        match (d.get("row").and_then(serde_json::Value::as_u64), d.get("line").and_then(serde_json::Value::as_u64)) {
            (Some(0), _) => Some("the file".to_string()),
            (Some(row), Some(line)) => Some(format!("row {row} (line {line})")),
            (Some(row), None) => Some(format!("row {row}")),
            (None, _) => None,
        };
    Some(match (place, column) {
        (Some(p), Some(c)) => format!("{p}, column {c}: {message}"),
        (Some(p), None) => format!("{p}: {message}"),
        (None, Some(c)) => format!("{c}: {message}"),
        (None, None) => message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Client, detail_line, seg};

    /// Break-attempt regression: header problems read "row 0" and columns
    /// came out JSON-quoted.
    #[test]
    fn error_details_name_the_row_line_and_column_for_people() {
        let d = |v: serde_json::Value| detail_line(&v).unwrap();
        assert_eq!(
            d(serde_json::json!({ "row": 3, "line": 4, "column": "macs", "message": "bad" })),
            "row 3 (line 4), column macs: bad"
        );
        assert_eq!(
            d(serde_json::json!({ "row": 0, "column": "MAC", "message": "mapped column not in the header" })),
            "the file, column MAC: mapped column not in the header"
        );
        assert_eq!(
            d(serde_json::json!({ "row": 2, "column": "", "message": "not an object" })),
            "row 2: not an object"
        );
        assert_eq!(
            d(serde_json::json!({ "field": "name", "message": "must be 1-200 printable characters" })),
            "name: must be 1-200 printable characters"
        );
        assert!(detail_line(&serde_json::json!({ "row": 1 })).is_none());
    }

    /// Regression: `censusd agent revoke ..` sent `DELETE /api/v1/agents/`
    /// (and `agent rotate ..` `POST /api/v1/rotate`): a URL parser drops
    /// dot segments even percent-encoded. Refused before anything is sent.
    #[tokio::test]
    async fn dot_names_are_refused_before_a_request_is_sent() {
        // Port 9 (discard) on loopback: nothing is listening, nothing is sent.
        let c = Client::new("http://127.0.0.1:9", "t", None).unwrap();
        for name in [".", "..", ".%2e", "%2E."] {
            let path =
                format!("/api/v1/agents/{}/rotate", if name.contains('%') { name.to_string() } else { seg(name) });
            let e = c.call(reqwest::Method::POST, &path, None).await.unwrap_err();
            assert!(e.to_string().contains("are not names"), "{name}: {e}");
        }
        // A name with dots that is not a dot segment goes out as usual (and fails to connect).
        let e =
            c.call(reqwest::Method::POST, &format!("/api/v1/agents/{}/rotate", seg("a..b")), None).await.unwrap_err();
        assert!(!e.to_string().contains("are not names"), "{e}");
    }
}
