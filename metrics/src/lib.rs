//! Prometheus metrics for Census: the exposition listener that `censusd
//! serve` and `census-agent run` both use, and the registry types they fill.
//!
//! Why a listener of its own, apart from the daemon's API: a scraper needs
//! no token, so what it reads must not sit on the port agents and people
//! reach. The listener is off unless configured, and binds 127.0.0.1 when
//! only a port is given ([`parse_listen`]); exposing it further is an
//! explicit choice of address.
//!
//! The text is OpenMetrics 1.0 ([`CONTENT_TYPE`]), encoded by the Prometheus
//! project's own client library (`prometheus-client`), so names, label
//! escaping, `_total` counters and `_seconds` histograms follow the
//! conventions (<https://prometheus.io/docs/practices/naming/>) without a
//! home-made encoder.
//!
//! The listener is bounded like the API: at most [`MAX_CONNECTIONS`] at
//! once (at the cap the oldest connection not answering a scrape is closed
//! to make room, so idle connections cannot lock scrapers out), headers
//! within [`HEADER_TIMEOUT`], and a connection ends after
//! [`CONNECTION_LIFETIME`] whatever it does.
//! Only `GET`/`HEAD /metrics` is answered with data.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};

pub mod conn;

pub use prometheus_client;

use conn::{Busy, Connections};

/// The exposition's media type (OpenMetrics 1.0 text), which Prometheus
/// asks for and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Connections held at once; at the cap the oldest idle one makes room.
pub const MAX_CONNECTIONS: usize = 32;
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed this long after it was accepted, busy or not.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// A label value from free text (a segment's or a sink's name), escaped as
/// the exposition format requires: `\\`, `\"` and `\n`. `prometheus-client`
/// writes `String` label values as they are, so a name with a quote would
/// make the whole scrape unparseable; free text goes through this type.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct LabelText(pub String);

impl From<&str> for LabelText {
    fn from(s: &str) -> Self {
        LabelText(s.to_string())
    }
}

impl prometheus_client::encoding::EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Encode a registry as OpenMetrics text (ending in `# EOF`).
pub fn encode(registry: &prometheus_client::registry::Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail; an encoder error would be a bug
    // in a metric's label set, and an empty answer says so to the scraper.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
        out.clear();
    }
    out
}

/// Why a metrics listen address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenError(pub String);

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ListenError {}

/// A metrics listen address from configuration: `IP:PORT` (`[::1]:9464`
/// for IPv6), or a bare `PORT`, which means `127.0.0.1:PORT`. Port 0 is
/// refused (a scraper must know where to look).
///
/// # Errors
/// [`ListenError`] saying what was expected.
pub fn parse_listen(value: &str) -> Result<SocketAddr, ListenError> {
    let v = value.trim();
    let addr = match v.parse::<u16>() {
        Ok(port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        Err(_) => v.parse::<SocketAddr>().map_err(|_| {
            ListenError(format!(
                "`{}` is not an address: expected IP:PORT (e.g. 127.0.0.1:9464) or a port alone for 127.0.0.1",
                v.escape_debug()
            ))
        })?,
    };
    if addr.port() == 0 {
        return Err(ListenError("port 0 is not a fixed port; a scraper must know where to look".into()));
    }
    Ok(addr)
}

/// Whether two listen addresses would take the same port: the same port
/// on the same address, or on either's unspecified address (`0.0.0.0`, `::`).
pub fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Serve `render()`'s text at `/metrics` on `listener` until `shutdown`
/// resolves. `render` is called once per scrape.
pub async fn serve<R, F>(listener: tokio::net::TcpListener, render: R, shutdown: impl Future<Output = ()>)
where
    R: Fn() -> F + Clone + Send + Sync + 'static,
    F: Future<Output = String> + Send + 'static,
{
    let open = Connections::default();
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if open.len() >= MAX_CONNECTIONS && !open.evict_oldest_idle() {
            tracing::debug!(%peer, "metrics listener: every connection is answering a scrape; closing this one");
            drop(stream);
            continue;
        }
        let busy = Arc::new(AtomicBool::new(false));
        let (render, flag) = (render.clone(), busy.clone());
        let handle = tasks.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let render = render.clone();
                let guard = Busy::start(&flag);
                async move {
                    let answer = answer(&req, render).await;
                    drop(guard);
                    Ok::<_, Infallible>(answer)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
        open.push(busy, handle);
    }
    drop(listener);
    tasks.abort_all();
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

async fn answer<R, F>(req: &Request<hyper::body::Incoming>, render: R) -> Response<Full<Bytes>>
where
    R: Fn() -> F,
    F: Future<Output = String>,
{
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let text = render().await;
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
            r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            r
        }
        "/" => plain(StatusCode::OK, "Census metrics: GET /metrics\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found; the metrics are at /metrics\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn listen_addresses_are_validated_and_a_bare_port_stays_on_loopback() {
        assert_eq!(parse_listen("9464").unwrap(), "127.0.0.1:9464".parse().unwrap());
        assert_eq!(parse_listen(" 198.18.0.1:9100 ").unwrap(), "198.18.0.1:9100".parse().unwrap());
        assert_eq!(parse_listen("[::1]:9464").unwrap(), "[::1]:9464".parse().unwrap());
        for bad in ["", "localhost:9464", "127.0.0.1", "127.0.0.1:99999", "0", "127.0.0.1:0", "9464x"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(!e.0.is_empty(), "{bad}");
        }
    }

    /// What the server answered before it closed (a reset ends the answer too).
    async fn request(addr: SocketAddr, head: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(head.as_bytes()).await;
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.expect("an answer or a close");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn free_text_label_values_are_escaped() {
        use prometheus_client::metrics::{counter::Counter, family::Family};
        let mut r = prometheus_client::registry::Registry::default();
        let f: Family<Vec<(&'static str, LabelText)>, Counter> = Family::default();
        f.get_or_create(&vec![("segment", LabelText::from("lab \"a\"\\b\nc"))]).inc();
        r.register("sweeps", "Sweeps", f);
        let text = encode(&r);
        assert!(text.lines().any(|l| l == r#"sweeps_total{segment="lab \"a\"\\b\nc"} 1"#), "{text}");
    }

    #[tokio::test]
    async fn metrics_are_served_at_their_path_only_and_with_the_openmetrics_type() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let render = move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "# TYPE up gauge\nup 1\n# EOF\n".to_string()
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, render, async {
            let _ = rx.await;
        }));

        let ok = request(addr, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.to_ascii_lowercase().contains(&format!("content-type: {CONTENT_TYPE}")), "{ok}");
        assert!(ok.ends_with("up 1\n# EOF\n"), "{ok}");
        let post =
            request(addr, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(post.to_ascii_lowercase().contains("allow: get, head"), "{post}");
        let other = request(addr, "GET /api/v1/assets HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let junk = request(addr, "\x16\x03\x01 not http\r\n\r\n").await;
        assert!(junk.is_empty() || junk.starts_with("HTTP/1.1 400"), "{junk}");
        assert_eq!(calls.load(Ordering::Relaxed), 1, "only a scrape renders");

        let _ = tx.send(());
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed after shutdown");
    }

    #[tokio::test]
    async fn idle_connections_at_the_cap_make_room_for_a_scrape() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let render = || async { "# EOF\n".to_string() };
        let server = tokio::spawn(serve(listener, render, std::future::pending()));
        // Idle connections fill the cap (and one more): a scrape still gets its answer.
        let mut idle = Vec::new();
        for _ in 0..=MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..3 {
            let ok = request(addr, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
            assert!(ok.starts_with("HTTP/1.1 200"), "a scrape behind idle connections: {ok:?}");
        }
        // The oldest idle ones were closed to make room.
        let mut first = idle.remove(0);
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), first.read(&mut b)).await.expect("closed, not hanging");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        server.abort();
    }

    #[test]
    fn overlapping_listen_addresses_are_recognised() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(a("127.0.0.1:9464"), a("127.0.0.1:9464")));
        assert!(overlaps(a("0.0.0.0:9464"), a("127.0.0.1:9464")));
        assert!(overlaps(a("127.0.0.1:9464"), a("[::]:9464")));
        assert!(!overlaps(a("127.0.0.1:9464"), a("127.0.0.1:8440")));
        assert!(!overlaps(a("127.0.0.1:9464"), a("127.0.0.2:9464")));
    }
}
