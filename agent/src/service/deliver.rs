//! Delivering spooled batches to the daemon over HTTP(S) with the agent's
//! bearer token.
//!
//! A batch leaves the spool only against the daemon's **receipt**: a 2xx
//! answer whose JSON body names that batch's id (a duplicate
//! acknowledgement too: the daemon stored it before). Anything else keeps
//! the batch:
//! - a 2xx that is not the receipt (a proxy's or captive portal's `200
//!   text/html`), any redirect (never followed: a 302 would turn the POST
//!   into a GET), a 404 or 405 (a wrong `daemon.url` or something in the
//!   way), 408, 429, 5xx, a timeout, no connection, a TLS failure: kept,
//!   retried with exponential backoff and jitter, the cause logged (for TLS:
//!   unknown issuer, wrong name, expired, pin mismatch);
//! - 401: the token is wrong or revoked — nothing will get through, so
//!   delivery pauses (batches stay spooled) and says so clearly;
//! - 400, 403, 409, 413, 422 (malformed, someone else's agent id, a batch id
//!   taken, too large, another schema major): this batch will never be
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
                let pem = census_proto::config::read_operator_bytes(ca, census_proto::config::MAX_PEM_FILE)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
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
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("census-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Deliverer { client, url: format!("{}/api/v1/batches", url.trim_end_matches('/')), token: token.to_string() })
    }

    /// Send one batch's bytes; `batch_id` is what the receipt must name.
    pub async fn send(&self, batch_id: &str, body: Vec<u8>) -> Outcome {
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
            Err(e) => return Outcome::Retry(format!("cannot reach the daemon: {}", causes(&e))),
        };
        let status = resp.status();
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(String::from);
        let text = resp.text().await.unwrap_or_default();
        let short: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        judge(status.as_u16(), &content_type, location.as_deref(), &text, &short, batch_id)
    }
}

/// What an answer means for the batch (pure, so every case is tested without a server).
fn judge(status: u16, content_type: &str, location: Option<&str>, text: &str, short: &str, batch_id: &str) -> Outcome {
    match status {
        200..=299 => {
            let receipt = content_type
                .starts_with("application/json")
                .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
                .flatten()
                .filter(|v| v["batch_id"].as_str() == Some(batch_id));
            match receipt {
                Some(v) => Outcome::Delivered { duplicate: v["duplicate"].as_bool().unwrap_or(false) },
                None => Outcome::Retry(format!(
                    "answer {status} ({}) is not the daemon's receipt for batch {batch_id} — a proxy or captive \
                     portal in the way, or daemon.url points elsewhere; the batch stays spooled",
                    if content_type.is_empty() { "no content type" } else { content_type }
                )),
            }
        }
        300..=399 => Outcome::Retry(format!(
            "the daemon's URL redirects ({status} to {}); redirects are not followed — set daemon.url to the final address",
            location.unwrap_or("?")
        )),
        401 => Outcome::Unauthorized(format!("{status}: {short}")),
        404 | 405 => Outcome::Retry(format!(
            "{status}: not a Census daemon's batch endpoint (a wrong daemon.url, or a proxy in the way); \
             the batch stays spooled"
        )),
        400 | 403 | 409 | 413 | 422 => Outcome::Rejected(format!("{status}: {short}")),
        _ => Outcome::Retry(format!("{status}: {short}")),
    }
}

/// An error with every cause it wraps (for TLS: unknown issuer, wrong name, pin mismatch).
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemons_receipt_for_this_batch_takes_it_out_of_the_spool() {
        let id = "5b0f7c1e-2d4a-4c8e-9a53-0d6f1b2c3e4f";
        let receipt = format!("{{\"batch_id\":\"{id}\",\"duplicate\":true,\"stored\":0}}");
        assert_eq!(judge(200, "application/json", None, &receipt, "", id), Outcome::Delivered { duplicate: true });
        // A captive portal's page, a receipt for another batch, JSON without an id: kept.
        for (ct, body) in [
            ("text/html", "<html>Welcome to the hotel wifi</html>".to_string()),
            ("application/json", receipt.replace(id, "00000000-0000-4000-8000-000000000000")),
            ("application/json", "{}".to_string()),
        ] {
            let o = judge(200, ct, None, &body, "", id);
            assert!(matches!(&o, Outcome::Retry(why) if why.contains("not the daemon's receipt")), "{o:?}");
        }
        assert!(
            matches!(judge(302, "", Some("https://login.example"), "", "", id), Outcome::Retry(w) if w.contains("redirects"))
        );
        assert!(matches!(judge(404, "text/html", None, "", "", id), Outcome::Retry(w) if w.contains("404")));
        assert!(matches!(judge(401, "", None, "", "", id), Outcome::Unauthorized(_)));
        for s in [400, 403, 409, 413, 422] {
            assert!(matches!(judge(s, "", None, "", "", id), Outcome::Rejected(_)), "{s}");
        }
        assert!(matches!(judge(503, "", None, "", "", id), Outcome::Retry(_)));
    }

    #[test]
    fn pins_are_64_hex_digits_with_optional_colons() {
        assert_eq!(hex_pin(&"ab".repeat(32)).unwrap().len(), 32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(hex_pin(&colons).unwrap(), vec![0xab; 32]);
        assert!(hex_pin("abcd").is_err());
        assert!(hex_pin(&"zz".repeat(32)).is_err());
    }
}
