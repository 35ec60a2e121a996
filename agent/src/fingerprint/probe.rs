//! Service probes on open ports, each bounded in time and bytes: a host that
//! streams forever, sends binary garbage or accepts and never answers costs
//! at most [`ProbeLimits::total`] and [`ProbeLimits::max_bytes`], and what it
//! said is sanitised before it is kept.
//!
//! Order: wait briefly for a greeting (SSH, SMTP, FTP, POP3, IMAP speak
//! first); if none, TLS on TLS ports (certificate, then HTTP inside), plain
//! HTTP elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use census_proto::{Port, ServiceEvidence};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::{banner, tls};

/// Bounds of one service probe.
#[derive(Debug, Clone, Copy)]
pub struct ProbeLimits {
    /// Connect timeout.
    pub connect: Duration,
    /// How long to wait for a server that speaks first.
    pub greeting: Duration,
    /// Whole probe, all steps together.
    pub total: Duration,
    /// Bytes read at most.
    pub max_bytes: usize,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        ProbeLimits {
            connect: Duration::from_secs(2),
            greeting: Duration::from_millis(800),
            total: Duration::from_secs(6),
            max_bytes: 16 * 1024,
        }
    }
}

/// Ports where TLS is expected from the first byte.
const TLS_PORTS: &[u16] = &[443, 465, 636, 853, 993, 995, 4443, 5986, 6443, 8443, 9443];

/// Read until EOF, `max` bytes, a quiet gap of `gap`, or `stop_at_newline` and a newline.
async fn read_bounded<S: AsyncRead + Unpin>(
    s: &mut S,
    max: usize,
    gap: Duration,
    deadline: Instant,
    stop_at_newline: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while out.len() < max {
        let wait = gap.min(deadline.saturating_duration_since(Instant::now()));
        match timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                out.extend_from_slice(&buf[..n.min(max - out.len())]);
                if stop_at_newline && out.contains(&b'\n') {
                    break;
                }
            }
            _ => break,
        }
    }
    out
}

fn http_request(ip: IpAddr) -> Vec<u8> {
    let host = match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: census-agent\r\nAccept: */*\r\n\r\n").into_bytes()
}

async fn http_over<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    ip: IpAddr,
    limits: &ProbeLimits,
    deadline: Instant,
) -> Option<census_proto::HttpEvidence> {
    s.write_all(&http_request(ip)).await.ok()?;
    let resp = read_bounded(s, limits.max_bytes, Duration::from_secs(2), deadline, false).await;
    banner::parse_http(&resp)
}

/// Probe one open port; `None` when nothing identifiable answered in time.
pub async fn probe(
    ip: IpAddr,
    port: Port,
    limits: ProbeLimits,
    tls_config: Option<Arc<rustls::ClientConfig>>,
) -> Option<ServiceEvidence> {
    let deadline = Instant::now() + limits.total;
    let work = async {
        let addr = SocketAddr::new(ip, port.0);
        let mut s = timeout(limits.connect, TcpStream::connect(addr)).await.ok()?.ok()?;
        let greeting = read_bounded(&mut s, limits.max_bytes.min(4096), limits.greeting, deadline, true).await;
        if !greeting.is_empty() {
            return banner::parse_greeting(&greeting);
        }
        if TLS_PORTS.contains(&port.0) {
            drop(s);
            let config = tls_config?;
            let s = timeout(limits.connect, TcpStream::connect(addr)).await.ok()?.ok()?;
            let name = rustls::pki_types::ServerName::IpAddress(ip.into());
            let connector = tokio_rustls::TlsConnector::from(config);
            let mut t = timeout(deadline.saturating_duration_since(Instant::now()), connector.connect(name, s))
                .await
                .ok()?
                .ok()?;
            let cert =
                t.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| tls::describe(c.as_ref()));
            let http = http_over(&mut t, ip, &limits, deadline).await;
            let server = http.as_ref().and_then(|h| h.server.clone());
            return Some(ServiceEvidence {
                name: Some("https".into()),
                product: server,
                http,
                tls: cert,
                ..Default::default()
            });
        }
        let http = http_over(&mut s, ip, &limits, deadline).await?;
        Some(ServiceEvidence {
            name: Some("http".into()),
            product: http.server.clone(),
            http: Some(http),
            ..Default::default()
        })
    };
    timeout(limits.total, work).await.ok().flatten()
}
