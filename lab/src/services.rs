//! Lab services: the banners, web pages and certificates lab hosts present
//! (and, through [`crate::responders`], their mDNS and NetBIOS names).
//!
//! Listening sockets are created inside each host's namespace (see
//! [`crate::netns::enter`]) and then all served from one tokio runtime on a
//! thread of the test process, so a 250-host lab costs one thread, not 250
//! emulator processes. Every connection is bounded in time and bytes.

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::LabError;
use crate::responders::BoundResponder;
use crate::spec::ServiceKind;

/// Longest any one lab connection is kept open.
const CONNECTION_LIMIT: Duration = Duration::from_secs(30);

/// Ground truth of a certificate a lab host presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertTruth {
    /// Subject, `CN=<name>`.
    pub subject: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
}

/// Validity every lab certificate has: from 2026-01-01 to 2031-01-01 (UTC).
pub fn lab_cert_validity() -> (OffsetDateTime, OffsetDateTime) {
    (time::macros::datetime!(2026-01-01 0:00 UTC), time::macros::datetime!(2031-01-01 0:00 UTC))
}

/// Make a self-signed certificate for `common_name` (valid until
/// `not_after`, or the lab's usual end) and a rustls config serving it.
pub fn self_signed(
    common_name: &str,
    not_after: Option<OffsetDateTime>,
) -> Result<(Arc<ServerConfig>, CertTruth), LabError> {
    let tls = |e: &dyn std::fmt::Display| LabError::Tls(format!("{common_name}: {e}"));
    let key = rcgen::KeyPair::generate().map_err(|e| tls(&e))?;
    let mut params = rcgen::CertificateParams::new(vec![common_name.to_string()]).map_err(|e| tls(&e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let (not_before, usual_end) = lab_cert_validity();
    let not_after = not_after.unwrap_or(usual_end);
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).map_err(|e| tls(&e))?;
    let der: CertificateDer<'static> = cert.der().clone();
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let sha256 = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![der], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .map_err(|e| tls(&e))?;
    let truth = CertTruth { subject: format!("CN={common_name}"), not_before, not_after, sha256 };
    Ok((Arc::new(config), truth))
}

/// A listening socket already bound inside a host's namespace, and what to serve on it.
pub struct BoundService {
    /// The socket (bound in the host's namespace).
    pub listener: StdListener,
    /// Behaviour.
    pub kind: ServiceKind,
    /// TLS configuration for [`ServiceKind::Https`].
    pub tls: Option<Arc<ServerConfig>>,
}

/// The running services of a lab; stopping (or dropping) it closes them all.
pub struct ServiceRunner {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceRunner {
    /// Serve `services` and the name `responders` on a runtime of their own until stopped.
    pub fn start(services: Vec<BoundService>, responders: Vec<BoundResponder>) -> Result<Self, LabError> {
        let (tx, rx) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LabError::Command(format!("service runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("lab-services".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for r in responders {
                        tokio::spawn(crate::responders::serve(r));
                    }
                    for svc in services {
                        if svc.listener.set_nonblocking(true).is_err() {
                            continue;
                        }
                        let Ok(listener) = tokio::net::TcpListener::from_std(svc.listener) else { continue };
                        let kind = Arc::new(svc.kind);
                        let tls = svc.tls;
                        tokio::spawn(async move {
                            while let Ok((stream, _)) = listener.accept().await {
                                let kind = kind.clone();
                                let tls = tls.clone();
                                tokio::spawn(async move {
                                    let _ = tokio::time::timeout(CONNECTION_LIMIT, serve(stream, &kind, tls)).await;
                                });
                            }
                        });
                    }
                    let _ = rx.await;
                });
                // Dropping the runtime here closes every listener and connection.
            })
            .map_err(|e| LabError::Command(format!("service thread: {e}")))?;
        Ok(ServiceRunner { shutdown: Some(tx), thread: Some(thread) })
    }

    /// Close every listener and connection and wait for the runtime to end.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServiceRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(stream: TcpStream, kind: &ServiceKind, tls: Option<Arc<ServerConfig>>) {
    let _ = stream.set_nodelay(true);
    match kind {
        ServiceKind::Banner { banner } => {
            let mut stream = stream;
            if stream.write_all(format!("{banner}\r\n").as_bytes()).await.is_ok() {
                // Hold the line open briefly, as a real daemon waits for the client's hello.
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            }
        }
        ServiceKind::Http { server, title } => http_exchange(stream, server, title).await,
        ServiceKind::Https { server, title, .. } => {
            let Some(config) = tls else { return };
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            if let Ok(Ok(tls_stream)) = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream)).await {
                http_exchange(tls_stream, server, title).await;
            }
        }
        ServiceKind::Endless => {
            let mut stream = stream;
            let chunk = vec![b'A'; 4096];
            while stream.write_all(&chunk).await.is_ok() {}
        }
        ServiceKind::Garbage => {
            let mut stream = stream;
            let garbage: Vec<u8> = (0u32..2048).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            let _ = stream.write_all(&garbage).await;
            let _ = stream.shutdown().await;
        }
        ServiceKind::Silent => {
            let mut stream = stream;
            let mut buf = [0u8; 256];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    }
}

async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, server: &str, title: &str) {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read_request = async {
        while request.len() < 8192 && !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(tokio::time::timeout(Duration::from_secs(5), read_request).await, Ok(true)) {
        return;
    }
    let body =
        format!("<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
