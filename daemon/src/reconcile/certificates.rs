//! `certificate-expiring` and `certificate-expired`: TLS certificates the
//! sweeps see served, judged on their end of validity against the run's
//! time and `reconcile.certificate_lead` (default 30 days).
//!
//! One alert per certificate (`cert:SHA256`), whichever hosts serve it: a
//! wildcard certificate on forty web servers is one renewal to do. Expiring
//! becomes expired (the expiring alert resolves, naming why). Neither
//! resolves itself otherwise: a full run that finds the certificate served
//! by no host (every present host's latest sweep having fetched
//! certificates) marks it absent since then, and a person closes it once the
//! renewal is confirmed — a sweep that did not fetch certificates (enrichment
//! off, a partial port list) must never close a certificate still served.
//! An incremental run only raises and updates: it sees one batch, not every
//! server.

use std::collections::{BTreeMap, BTreeSet};

use super::assets::fmt_ms;
use super::rules::{Plan, World, describe, finding, with_sightings};
use super::sighting::{ServedCert, Sighting};
use crate::alerts::evidence::{CertificateValidity, Evidence};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};

const WEEK_MS: i64 = 7 * 86_400_000;

/// Each certificate served, by SHA-256: the certificate and where (sighting, port).
type Serving<'s> = BTreeMap<&'s str, (&'s ServedCert, Vec<(&'s Sighting, u16)>)>;

fn evidence(c: &ServedCert, served: &[(&Sighting, u16)]) -> CertificateValidity {
    let mut seen = Vec::new();
    for (s, _) in served {
        if !seen.iter().any(|h: &crate::alerts::evidence::HostSeen| h.ip == s.ip) {
            seen.push(describe(s));
        }
    }
    CertificateValidity {
        sha256: c.sha256.clone(),
        subject: c.subject.clone(),
        not_after_ms: c.not_after_ms,
        served_at: served.iter().map(|(s, port)| format!("{}:{port}", s.ip)).collect(),
        seen,
    }
}

/// Judge the certificates `serving` (present sightings with certificates)
/// serve; `unfetched` says some present host's latest sweep fetched no
/// certificates, so a certificate served by no sighting may still be served.
pub fn judge(w: &World<'_>, serving: &[&Sighting], unfetched: bool, plan: &mut Plan) {
    let now = w.now_ms;
    let mut by_sha: Serving<'_> = BTreeMap::new();
    for s in serving {
        for c in &s.tls {
            by_sha.entry(c.sha256.as_str()).or_insert_with(|| (c, Vec::new())).1.push((s, c.port));
        }
    }
    // Where each is served, in address and port order: the evidence, the
    // summary's first place and its updates never depend on the order a
    // store returned the sightings in (PostgreSQL's differs from SQLite's).
    for (_, served) in by_sha.values_mut() {
        served.sort_by_cached_key(|(s, port)| (s.ip.parse::<std::net::IpAddr>().ok(), *port, s.ip.clone()));
    }
    for (sha, (c, served)) in &by_sha {
        let subject = format!("cert:{sha}");
        let last_ms = served.iter().map(|(s, _)| s.last_ms).max().unwrap_or(now);
        let place = served.first().map(|(s, p)| format!("{}:{p}", s.ip)).unwrap_or_default();
        let more = if served.len() > 1 { format!(" and {} more", served.len() - 1) } else { String::new() };
        let (kind, severity, summary) = if c.not_after_ms < now {
            (
                AlertKind::CertificateExpired,
                Severity::High,
                format!(
                    "certificate {} expired {} and is still served at {place}{more}",
                    c.subject,
                    fmt_ms(c.not_after_ms)
                ),
            )
        } else if c.not_after_ms - now <= w.settings.certificate_lead_ms {
            let sev = if c.not_after_ms - now <= WEEK_MS { Severity::High } else { Severity::Medium };
            (
                AlertKind::CertificateExpiring,
                sev,
                format!("certificate {} served at {place}{more} expires {}", c.subject, fmt_ms(c.not_after_ms)),
            )
        } else {
            for kind in [AlertKind::CertificateExpiring, AlertKind::CertificateExpired] {
                if plan.wants_clear(kind, &subject) {
                    let reason = format!("valid until {}, beyond the lead time", fmt_ms(c.not_after_ms));
                    plan.clear(kind, subject.clone(), ClearCause::Resolved, reason, last_ms);
                }
            }
            continue;
        };
        let ev = evidence(c, served);
        let ev = if kind == AlertKind::CertificateExpired {
            if plan.wants_clear(AlertKind::CertificateExpiring, &subject) {
                let reason = format!("it expired {}: see its certificate-expired alert", fmt_ms(c.not_after_ms));
                // Expired, it cannot be expiring: this one resolves whatever a person decided.
                plan.clear(AlertKind::CertificateExpiring, subject.clone(), ClearCause::Register, reason, now);
            }
            Evidence::CertificateExpired(ev)
        } else {
            Evidence::CertificateExpiring(ev)
        };
        let f = finding(kind, subject, severity, summary, ev);
        plan.findings.push(with_sightings(f, served.iter().map(|(s, _)| *s)));
    }
    // Full runs know every host on the network: a certificate none serves is
    // gone — when every present host's latest sweep fetched certificates.
    if unfetched {
        return;
    }
    let served: BTreeSet<&str> = by_sha.keys().copied().collect();
    for (kind, subject) in &w.live_subjects {
        if !matches!(kind, AlertKind::CertificateExpiring | AlertKind::CertificateExpired) {
            continue;
        }
        let Some(sha) = subject.strip_prefix("cert:") else { continue };
        if !served.contains(sha) {
            let reason = "no host on the network serves it any more (renewed, or the service is gone)".to_string();
            plan.clear(*kind, subject.clone(), ClearCause::Absent, reason, now);
        }
    }
}
