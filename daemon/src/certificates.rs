//! The certificate inventory: every TLS certificate the agents' latest
//! sweeps saw served, one record per certificate (by SHA-256) with where it
//! is served, by which asset, and what is weak about it.
//!
//! It is built on demand from each address's latest observation (the store
//! keeps those whole, whatever the retention), so it never disagrees with
//! what `whois` shows; since when each is served comes from a small table
//! ingest keeps (one row per certificate, address and port). `censusd certificates`
//! prints it; `--weak` is the weak-key report.
//!
//! Weak, by NIST SP 800-131A Rev. 2 ("Transitioning the Use of Cryptographic
//! Algorithms and Key Lengths", 2019) and the CA/Browser Forum Baseline
//! Requirements §6.1.5–6.1.6 and §7.1.3:
//!
//! | what | why |
//! |---|---|
//! | RSA key under 2048 bits | disallowed for signatures and key transport since 2013 |
//! | DSA key | disallowed for signature generation (FIPS 186-5, 2023) |
//! | EC key under 256 bits | under 112 bits of security |
//! | SHA-1 or MD5 signature | collisions are practical (SHAttered, 2017; MD5, 2008) |

use std::collections::BTreeMap;

use census_proto::{HostObservation, PortState};
use serde::Serialize;

/// One address's latest observation, as the store gives it for the inventory.
#[derive(Debug, Clone)]
pub struct HostTls {
    /// Address.
    pub ip: String,
    /// Last seen (unix ms).
    pub last_seen_ms: i64,
    /// Agent that saw it last.
    pub agent: String,
    /// The asset it was last matched to.
    pub asset: Option<String>,
    /// Its latest observation.
    pub observation: HostObservation,
    /// When each certificate was first seen served here: (port, SHA-256
    /// lowercase hex, unix ms).
    pub first_served: Vec<(u16, String, i64)>,
}

/// Where a certificate is served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ServedAt {
    /// Address.
    pub ip: String,
    /// TCP port.
    pub port: u16,
    /// First seen serving it here (unix ms): the first sighting since the
    /// daemon began keeping it (schema 14), whatever the retention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<i64>,
    /// Last seen serving it (unix ms).
    pub last_seen_ms: i64,
    /// Agent that saw it.
    pub agent: String,
    /// The asset that host matched, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
}

/// One certificate in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CertificateRecord {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// Subject alternative names.
    pub sans: Vec<String>,
    /// Issuer.
    pub issuer: String,
    /// Serial, lowercase hex (agents before it was sent: absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Start of validity (unix ms).
    pub not_before_ms: i64,
    /// End of validity (unix ms).
    pub not_after_ms: i64,
    /// Public key, e.g. `RSA 2048`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Signature algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Self-signed (subject and issuer are the same).
    pub self_signed: bool,
    /// What is weak about it (empty: nothing known).
    pub weak: Vec<String>,
    /// Where it is served.
    pub served: Vec<ServedAt>,
    /// The assets serving it (matched hosts), by tag.
    pub assets: Vec<String>,
}

/// Signature algorithm OIDs with SHA-1 or MD5 (RFC 3279 §2.2, RFC 5758 §3.2
/// for ECDSA), for agents or tools that write the OID instead of the name.
const SHA1_OIDS: &[&str] = &["1.2.840.113549.1.1.5", "1.2.840.10040.4.3", "1.2.840.10045.4.1", "1.3.14.3.2.29"];
/// MD5 and MD2 with RSA (RFC 3279 §2.2.1).
const MD5_OIDS: &[&str] = &["1.2.840.113549.1.1.4", "1.2.840.113549.1.1.2"];

/// What is weak about a key and a signature algorithm (see the module's
/// table). Keys are read as `RSA 2048`, `rsa2048`, `EC 256`, `DSA …` in any
/// case; signatures by name (`sha1WithRSAEncryption`, `ecdsa-with-SHA1`) or OID.
pub fn weaknesses(key: Option<&str>, signature: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = key {
        let k = k.trim().to_ascii_uppercase();
        let bits = |prefix: &str| {
            k.strip_prefix(prefix)
                .map(|rest| rest.trim().trim_start_matches('-').trim())
                .and_then(|b| b.split_whitespace().next())
                .and_then(|b| b.parse::<u32>().ok())
        };
        if let Some(b) = bits("RSA").filter(|b| *b < 2048) {
            out.push(format!("RSA key of {b} bits (under 2048)"));
        }
        if k.starts_with("DSA") {
            out.push("DSA key".to_string());
        }
        if let Some(b) = bits("ECDSA").or_else(|| bits("EC")).filter(|b| *b < 256) {
            out.push(format!("EC key of {b} bits (under 256)"));
        }
    }
    if let Some(s) = signature {
        let l = s.trim().to_ascii_lowercase();
        if l.contains("sha1") || l.contains("sha-1") || SHA1_OIDS.contains(&l.as_str()) {
            out.push(format!("SHA-1 signature ({s})"));
        }
        if l.contains("md5") || l.contains("md2") || MD5_OIDS.contains(&l.as_str()) {
            out.push(format!("MD5 signature ({s})"));
        }
    }
    out
}

fn ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Build the inventory from the hosts' latest observations: one record per
/// certificate, soonest to end first.
pub fn inventory(hosts: &[HostTls]) -> Vec<CertificateRecord> {
    let mut by_sha: BTreeMap<String, CertificateRecord> = BTreeMap::new();
    for h in hosts {
        for p in h.observation.ports.iter().filter(|p| p.state == PortState::Open) {
            let Some(t) = p.service.as_deref().and_then(|s| s.tls.as_ref()) else { continue };
            let sha = t.sha256.to_ascii_lowercase();
            let r = by_sha.entry(sha.clone()).or_insert_with(|| CertificateRecord {
                sha256: sha,
                subject: t.subject.clone(),
                sans: t.sans.clone(),
                issuer: t.issuer.clone(),
                serial: t.serial.as_deref().map(crate::register::model::plain_serial),
                not_before_ms: ms(t.not_before),
                not_after_ms: ms(t.not_after),
                key: t.key.clone(),
                signature: t.signature.clone(),
                self_signed: t.subject == t.issuer,
                weak: weaknesses(t.key.as_deref(), t.signature.as_deref()),
                served: Vec::new(),
                assets: Vec::new(),
            });
            let first_seen_ms =
                h.first_served.iter().find(|(port, s, _)| *port == p.port.0 && *s == r.sha256).map(|f| f.2);
            r.served.push(ServedAt {
                ip: h.ip.clone(),
                port: p.port.0,
                first_seen_ms,
                last_seen_ms: h.last_seen_ms,
                agent: h.agent.clone(),
                asset: h.asset.clone(),
            });
            if let Some(a) = &h.asset
                && !r.assets.contains(a)
            {
                r.assets.push(a.clone());
            }
        }
    }
    let mut out: Vec<CertificateRecord> = by_sha.into_values().collect();
    for r in &mut out {
        r.served.sort_by(|a, b| (a.ip.as_str(), a.port).cmp(&(b.ip.as_str(), b.port)));
        r.assets.sort();
    }
    out.sort_by(|a, b| (a.not_after_ms, &a.sha256).cmp(&(b.not_after_ms, &b.sha256)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_keys_and_signatures_are_named() {
        assert_eq!(weaknesses(Some("RSA 1024"), Some("sha1WithRSAEncryption")).len(), 2);
        assert_eq!(weaknesses(Some("RSA 2048"), Some("sha256WithRSAEncryption")), Vec::<String>::new());
        assert_eq!(weaknesses(Some("DSA 1024"), Some("dsa-with-sha1")), ["DSA key", "SHA-1 signature (dsa-with-sha1)"]);
        assert_eq!(weaknesses(Some("EC 192"), None), ["EC key of 192 bits (under 256)"]);
        assert_eq!(weaknesses(Some("Ed25519"), Some("md5WithRSAEncryption")), ["MD5 signature (md5WithRSAEncryption)"]);
        assert!(weaknesses(None, None).is_empty(), "nothing known is nothing said");
        // Break-attempt regressions: other spellings and OIDs.
        for k in ["rsa 1024", "RSA1024", "RSA-1024"] {
            assert_eq!(weaknesses(Some(k), None), ["RSA key of 1024 bits (under 2048)"], "{k}");
        }
        assert_eq!(weaknesses(Some("ECDSA 192"), None), ["EC key of 192 bits (under 256)"]);
        assert_eq!(weaknesses(None, Some("1.2.840.113549.1.1.5")), ["SHA-1 signature (1.2.840.113549.1.1.5)"]);
        assert_eq!(weaknesses(None, Some("1.2.840.113549.1.1.4")), ["MD5 signature (1.2.840.113549.1.1.4)"]);
        assert!(weaknesses(Some("rsa 4096"), Some("1.2.840.113549.1.1.11")).is_empty(), "sha256WithRSAEncryption");
    }

    fn host(ip: &str, asset: Option<&str>, certs: &[(u16, &str, &str)]) -> HostTls {
        let t0 = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let ports = certs
            .iter()
            .map(|(port, sha, key)| census_proto::PortObservation {
                port: census_proto::Port(*port),
                protocol: census_proto::TransportProtocol::Tcp,
                state: PortState::Open,
                service: Some(Box::new(census_proto::ServiceEvidence {
                    tls: Some(census_proto::TlsCertificate {
                        subject: format!("CN={ip}"),
                        sans: vec![],
                        issuer: "CN=Lab CA".into(),
                        not_before: t0,
                        not_after: t0 + time::Duration::days(if *port == 443 { 90 } else { 30 }),
                        sha256: (*sha).into(),
                        serial: Some("00A1".into()),
                        key: Some((*key).into()),
                        signature: Some("sha256WithRSAEncryption".into()),
                    }),
                    ..Default::default()
                })),
            })
            .collect();
        let observation: HostObservation = serde_json::from_value(serde_json::json!({
            "ip": ip, "seen_by": [], "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-01T00:00:00Z"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        HostTls {
            ip: ip.into(),
            last_seen_ms: 1,
            agent: "lab".into(),
            asset: asset.map(String::from),
            observation: HostObservation { ports, ..observation },
            first_served: certs.iter().map(|(port, sha, _)| (*port, sha.to_string(), 7)).collect(),
        }
    }

    #[test]
    fn one_record_per_certificate_with_every_place_and_asset_soonest_first() {
        let shared = "aa".repeat(32);
        let hosts = [
            host("198.18.0.2", Some("WEB-2"), &[(443, &shared, "RSA 2048")]),
            host("198.18.0.1", Some("WEB-1"), &[(443, &shared, "RSA 2048"), (8443, &"bb".repeat(32), "RSA 1024")]),
        ];
        let inv = inventory(&hosts);
        assert_eq!(inv.len(), 2);
        assert_eq!(inv[0].sha256, "bb".repeat(32), "ends in 30 days, before the 90-day one");
        assert_eq!(inv[0].weak, ["RSA key of 1024 bits (under 2048)"]);
        assert_eq!(inv[0].serial.as_deref(), Some("a1"));
        let places: Vec<(&str, u16)> = inv[1].served.iter().map(|s| (s.ip.as_str(), s.port)).collect();
        assert_eq!(places, [("198.18.0.1", 443), ("198.18.0.2", 443)]);
        assert_eq!(inv[1].assets, ["WEB-1", "WEB-2"]);
    }
}
