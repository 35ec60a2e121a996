//! Reading a TLS server's certificate — for identification only, never for
//! trust. The verifier below accepts every certificate and signature: it
//! exists so the handshake completes and the certificate can be recorded
//! (subject, SANs, issuer, validity, SHA-256). Nothing read over such a
//! connection is believed beyond "this is what the host presented".

use std::sync::Arc;

use census_proto::TlsCertificate;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::sanitize::{MAX_TEXT, clean};

#[derive(Debug)]
struct ReadOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that completes handshakes with any certificate (read-only use).
pub fn read_only_client() -> Option<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    Some(Arc::new(config))
}

/// Describe a DER certificate; `None` when it does not parse.
pub fn describe(der: &[u8]) -> Option<TlsCertificate> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(clean(d.as_bytes(), MAX_TEXT)),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
            if sans.len() >= 32 {
                break;
            }
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    Some(TlsCertificate {
        subject: clean(cert.subject().to_string().as_bytes(), MAX_TEXT),
        sans,
        issuer: clean(cert.issuer().to_string().as_bytes(), MAX_TEXT),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        serial: Some(serial_hex(cert.raw_serial())),
        key: key_description(&cert),
        signature: Some(signature_name(&cert.signature_algorithm.algorithm.to_id_string())),
    })
}

/// A serial as lowercase hex without leading zeros (`0` for zero).
fn serial_hex(raw: &[u8]) -> String {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let t = hex.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

/// `RSA 2048`, `EC 256`, `DSA 1024`, `Ed25519`; the algorithm's OID when unknown.
fn key_description(cert: &X509Certificate<'_>) -> Option<String> {
    use x509_parser::public_key::PublicKey;
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    Some(match (oid.as_str(), spki.parsed()) {
        ("1.3.101.112", _) => "Ed25519".into(),
        ("1.3.101.113", _) => "Ed448".into(),
        (_, Ok(k @ PublicKey::RSA(_))) => format!("RSA {}", k.key_size()),
        (_, Ok(k @ PublicKey::EC(_))) => format!("EC {}", k.key_size()),
        (_, Ok(k @ PublicKey::DSA(_))) => format!("DSA {}", k.key_size()),
        _ => clean(oid.as_bytes(), 64),
    })
}

/// The signature algorithm's name for the common ones (RFC 3279, 4055,
/// 5758, 8410 object identifiers); its OID otherwise.
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return clean(other.as_bytes(), 64),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_described_with_its_serial_key_and_signature() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["host-1.lab.example".to_string()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x0a, 0x1b, 0xff]));
        let cert = params.self_signed(&key).unwrap();
        let d = describe(cert.der()).unwrap();
        assert_eq!(d.serial.as_deref(), Some("a1bff"), "lowercase hex, no leading zeros");
        assert_eq!(d.key.as_deref(), Some("EC 256"));
        assert_eq!(d.signature.as_deref(), Some("ecdsa-with-SHA256"));
        assert_eq!(d.sans, ["host-1.lab.example"]);
        assert_eq!(d.sha256.len(), 64);
    }

    #[test]
    fn serials_and_unknown_algorithms_are_plain_text() {
        assert_eq!(serial_hex(&[0, 0]), "0");
        assert_eq!(serial_hex(&[0x01, 0x00]), "100");
        assert_eq!(signature_name("1.2.840.113549.1.1.5"), "sha1WithRSAEncryption");
        assert_eq!(signature_name("1.2.3.4"), "1.2.3.4");
    }
}
