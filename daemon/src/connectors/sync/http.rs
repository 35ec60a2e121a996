//! The HTTP side of a sync: one client per sync (TLS verified unless the
//! configuration says otherwise, a private CA when given, a timeout per
//! request), the token in the header each system documents, paths joined
//! under the configured URL (so an installation under a sub-path works),
//! and the failures a sync must stop on named with the URL.
//!
//! A 429 is waited out as its `Retry-After` says (seconds, at most
//! [`MAX_RETRY_WAIT`]), at most [`MAX_RETRIES`] times per request; any
//! other answer than 2xx stops the sync: a register read in part is not
//! applied (the caller writes nothing before every page is in).

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::SyncError;
use super::config::SyncConfig;

/// Most 429 answers one request waits out.
pub const MAX_RETRIES: u32 = 5;

/// Longest wait a `Retry-After` is granted (a longer one is cut to this).
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Most bytes one answer may have (a page of 500 Snipe-IT assets is about 1 MB).
const MAX_BODY: usize = 64 << 20;

/// A client for one system.
pub struct Upstream {
    client: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    /// The token, to keep it out of whatever the system echoes back.
    token: String,
    system: &'static str,
}

/// Read the token from `path`: a regular file (a pipe or a device would
/// block or never end), at most [`census_proto::config::MAX_SECRET_FILE`] bytes, one token.
///
/// # Errors
/// [`SyncError::Config`] naming the file and what is wrong with it.
pub fn read_token(path: &std::path::Path) -> Result<String, SyncError> {
    let shown = path.display();
    let text = census_proto::config::read_operator_file(path, census_proto::config::MAX_SECRET_FILE)
        .map_err(|e| SyncError::Config(format!("the token file {shown} {e}")))?;
    let token = text.trim();
    if token.is_empty() || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SyncError::Config(format!("the token file {shown} is empty or holds more than one token")));
    }
    Ok(token.to_string())
}

impl Upstream {
    /// A client for `cfg`, the token read from its file now.
    ///
    /// # Errors
    /// [`SyncError::Config`]: the token file is unreadable or empty, the CA is not PEM.
    pub fn new(cfg: &SyncConfig) -> Result<Self, SyncError> {
        let token = read_token(&cfg.token_file)?;
        let scheme = match cfg.system {
            super::System::SnipeIt => "Bearer",
            super::System::NetBox => "Token",
        };
        let mut auth = HeaderValue::from_str(&format!("{scheme} {token}"))
            .map_err(|_| SyncError::Config(format!("the token in {} is not header text", cfg.token_file.display())))?;
        auth.set_sensitive(true);
        crate::client::install_crypto();
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("censusd/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(!cfg.tls_verify);
        if let Some(ca) = &cfg.ca_file {
            let pem = census_proto::config::read_operator_bytes(ca, census_proto::config::MAX_PEM_FILE)
                .map_err(|e| SyncError::Config(format!("the CA file {} {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| SyncError::Config(format!("the CA file {} is not PEM: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        let client = b.build().map_err(|e| SyncError::Config(format!("the HTTP client: {e}")))?;
        let mut base = cfg.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Upstream { client, base, auth, token, system: cfg.system.title() })
    }

    /// `rel` (`api/v1/hardware?limit=500`) under the configured URL.
    ///
    /// # Errors
    /// [`SyncError::Upstream`] when it does not join.
    pub fn url(&self, rel: &str) -> Result<Url, SyncError> {
        self.base.join(rel.trim_start_matches('/')).map_err(|e| self.fail(rel, format!("not a URL: {e}")))
    }

    /// A link the system returned (NetBox's `next`), taken only as a path
    /// and query under the configured URL: a server behind a proxy often
    /// writes another scheme or host, and a sync follows no link elsewhere.
    ///
    /// # Errors
    /// [`SyncError::Upstream`] when it is not a URL or leaves the configured path.
    pub fn follow(&self, link: &str, expected_path: &str) -> Result<Url, SyncError> {
        let parsed = Url::parse(link).or_else(|_| self.base.join(link)).map_err(|e| self.fail(link, e.to_string()))?;
        if parsed.path() != expected_path {
            return Err(self.fail(link, format!("a `next` link leaves {expected_path}; the sync follows none")));
        }
        let mut u = self.base.clone();
        u.set_path(parsed.path());
        u.set_query(parsed.query());
        Ok(u)
    }

    fn fail(&self, url: &str, message: impl Into<String>) -> SyncError {
        let message = self.redact(&message.into());
        SyncError::Upstream { system: self.system, url: self.shown(url), message }
    }

    /// `text` without the token (a system may echo the header back).
    pub fn redact(&self, text: &str) -> String {
        if self.token.len() < 4 {
            return text.to_string();
        }
        // Case-insensitively: the token is ASCII (a header value), so byte offsets agree.
        let (lower, token) = (text.to_ascii_lowercase(), self.token.to_ascii_lowercase());
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(i) = lower[at..].find(&token) {
            out.push_str(&text[at..at + i]);
            out.push_str("[token]");
            at += i + token.len();
        }
        out.push_str(&text[at..]);
        out
    }

    /// `url` (a path, or a path and query) with the configured host, for people.
    fn shown(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base.origin().ascii_serialization())
        } else {
            url.to_string()
        }
    }

    /// GET `url` and decode its JSON.
    ///
    /// # Errors
    /// See the module docs.
    pub async fn get(&self, url: &Url) -> Result<Value, SyncError> {
        self.call(Method::GET, url, None, false).await.map(Option::unwrap_or_default)
    }

    /// GET one record: `None` when the system answers 404.
    ///
    /// # Errors
    /// See the module docs.
    pub async fn get_one(&self, url: &Url) -> Result<Option<Value>, SyncError> {
        self.call(Method::GET, url, None, true).await
    }

    /// PATCH `url` with `body`.
    ///
    /// # Errors
    /// See the module docs.
    pub async fn patch(&self, url: &Url, body: &Value) -> Result<Value, SyncError> {
        self.call(Method::PATCH, url, Some(body), false).await.map(Option::unwrap_or_default)
    }

    /// `e` with the token taken out of every text it carries (whatever its case).
    pub fn redact_error(&self, e: SyncError) -> SyncError {
        match e {
            SyncError::Auth { system, status, url, detail } => {
                SyncError::Auth { system, status, url: self.redact(&url), detail: self.redact(&detail) }
            }
            SyncError::Upstream { system, url, message } => {
                SyncError::Upstream { system, url: self.redact(&url), message: self.redact(&message) }
            }
            SyncError::Config(m) => SyncError::Config(self.redact(&m)),
            SyncError::Refused(m) => SyncError::Refused(self.redact(&m)),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        missing_ok: bool,
    ) -> Result<Option<Value>, SyncError> {
        let shown = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
        let mut tries = 0u32;
        loop {
            let mut req = self.client.request(method.clone(), url.clone()).header(AUTHORIZATION, self.auth.clone());
            req = req.header(ACCEPT, "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| self.fail(&shown, without_url(&e)))?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS && tries < MAX_RETRIES {
                tries += 1;
                let wait = retry_after(resp.headers().get(RETRY_AFTER));
                tracing::info!(system = self.system, url = %shown, wait_s = wait.as_secs(), tries, "rate limited; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            let resp_location =
                resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(|v| self.redact(v));
            let bytes = read_capped(resp).await.map_err(|m| self.fail(&shown, m))?;
            let text = || self.redact(String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).trim());
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(SyncError::Auth {
                    system: self.system,
                    status: status.as_u16(),
                    url: self.shown(url.path()),
                    detail: text(),
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(self.fail(&shown, format!("still rate limited (429) after {MAX_RETRIES} waits")));
            }
            if missing_ok && status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status.is_redirection() {
                let to = resp_location.as_deref().unwrap_or("?");
                return Err(self.fail(
                    &shown,
                    format!("HTTP {status} to {to}: redirects are not followed; configure the URL it points to"),
                ));
            }
            if !status.is_success() {
                return Err(self.fail(&shown, format!("HTTP {status}: {}", text())));
            }
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.fail(&shown, format!("the answer is not JSON ({e}): {}", text())));
        }
    }
}

/// The wait a `Retry-After` asks for: whole seconds (an HTTP date or
/// nothing waits 5 s), at least 1 s, at most [`MAX_RETRY_WAIT`].
pub fn retry_after(v: Option<&HeaderValue>) -> Duration {
    v.and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs)
        .clamp(Duration::from_secs(1), MAX_RETRY_WAIT)
}

/// A request error without the URL (the caller names it, without the query's secrets).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| without_url(&e))? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {} MB", MAX_BODY >> 20));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_that_would_block_or_never_end_is_refused_before_it_is_opened() {
        for path in ["/dev/zero", "/dev/stdin", "/tmp"] {
            let e = read_token(std::path::Path::new(path)).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{path}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(5000)).unwrap();
        assert!(read_token(&big).unwrap_err().to_string().contains("larger than"));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "  abc123\r\n").unwrap();
        assert_eq!(read_token(&ok).unwrap(), "abc123");
    }

    #[test]
    fn the_token_is_taken_out_of_what_the_system_echoes_whatever_its_case() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "snipetok123SECRET\n").unwrap();
        let text = format!("[snipeit]\nurl = \"http://127.0.0.1:9\"\ntoken_file = \"{}\"\n", token.display());
        let raw: super::super::config::RawSyncs = toml::from_str(&text).unwrap();
        let cfg = super::super::config::validate(std::path::Path::new("c.toml"), raw).unwrap().snipeit.unwrap();
        let up = Upstream::new(&cfg).unwrap();
        assert_eq!(up.redact("bad token snipetok123SECRET, ERR SNIPETOK123SECRET"), "bad token [token], ERR [token]");
        let e = up.redact_error(SyncError::Upstream {
            system: "NetBox",
            url: "/api/dcim/devices/?t=snipetok123secret".into(),
            message: "échec snipetok123SECRET".into(),
        });
        assert!(!e.to_string().to_lowercase().contains("snipetok123secret"), "{e}");
    }

    #[test]
    fn retry_after_is_seconds_capped() {
        assert_eq!(retry_after(Some(&HeaderValue::from_static("2"))), Duration::from_secs(2));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("86400"))), MAX_RETRY_WAIT);
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"))),
            Duration::from_secs(5)
        );
        assert_eq!(retry_after(None), Duration::from_secs(5));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("0"))), Duration::from_secs(1), "no storm of retries");
    }
}
