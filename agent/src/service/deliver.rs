//! Delivering spooled batches to the daemon over HTTP(S) with the agent's
//! bearer token.
//!
//! The answer decides what happens to a batch:
//! - 2xx: delivered (a duplicate acknowledgement too: the daemon stored it
//!   before), removed from the spool;
//! - 5xx, a timeout, no connection: kept, retried with exponential backoff
//!   and jitter;
//! - 401: the token is wrong or revoked — nothing will get through, so
//!   delivery pauses (batches stay spooled) and says so clearly;
//! - other 4xx (malformed, out of scope, too large): this batch will never be
//!   accepted; it is set aside in `spool/rejected/` and the reason logged.
//!
//! A self-hosted daemon's certificate is trusted through a CA file, or
//! pinned by its SHA-256 fingerprint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What the daemon said about one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or stored before).
    Delivered {
        /// The daemon had it already.
        duplicate: bool,
    },
    /// Try again later.
    Retry(String),
    /// The token was refused: pause delivery.
    Unauthorized(String),
    /// This batch will never be accepted.
    Rejected(String),
}

/// Sends batches.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    url: String,
    token: String,
}

/// A certificate verifier that accepts exactly one certificate, by SHA-256.
#[derive(Debug)]
struct Pinned {
    sha256: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if got.as_ref() == self.sha256.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the daemon's certificate does not match the pinned SHA-256".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn hex_pin(pin: &str) -> Result<Vec<u8>, String> {
    let clean: String = pin.chars().filter(|c| *c != ':').collect();
    if clean.len() != 64 {
        return Err(format!("`{pin}` is not a SHA-256 fingerprint (64 hex digits)"));
    }
    (0..32)
        .map(|i| u8::from_str_radix(&clean[2 * i..2 * i + 2], 16).map_err(|_| format!("`{pin}` is not hex")))
        .collect()
}

impl Deliverer {
    /// A deliverer for `url` with `token`; TLS trusts `ca_file`, or only the
    /// certificate pinned by `pin_sha256`, or the system roots.
    pub fn new(
        url: &str,
        token: &str,
        ca_file: Option<&Path>,
        pin_sha256: Option<&str>,
        timeout: Duration,
    ) -> Result<Deliverer, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let tls = if let Some(pin) = pin_sha256 {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { sha256: hex_pin(pin)?, provider }))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            if let Some(ca) = ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                    roots.add(cert).map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!("{} holds no PEM certificate", ca.display()));
                }
            } else {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("census-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Deliverer { client, url: format!("{}/api/v1/batches", url.trim_end_matches('/')), token: token.to_string() })
    }

    /// Send one batch's bytes.
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let resp = match self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("cannot reach the daemon: {e}")),
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        if status.is_success() {
            let duplicate = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["duplicate"].as_bool())
                .unwrap_or(false);
            Outcome::Delivered { duplicate }
        } else if status.as_u16() == 401 {
            Outcome::Unauthorized(format!("{status}: {text}"))
        } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            Outcome::Rejected(format!("{status}: {text}"))
        } else {
            Outcome::Retry(format!("{status}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_digits_with_optional_colons() {
        assert_eq!(hex_pin(&"ab".repeat(32)).unwrap().len(), 32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(hex_pin(&colons).unwrap(), vec![0xab; 32]);
        assert!(hex_pin("abcd").is_err());
        assert!(hex_pin(&"zz".repeat(32)).is_err());
    }
}
