//! `retired-credential-in-use`: a certificate that belongs to a
//! decommissioned or disposed asset is served by a host on the network.
//!
//! The laptop that left with an employee still holding a valid VPN
//! certificate is the gap between "retired on paper" and "retired": its
//! credential was not revoked. A certificate belongs to an asset when the
//! register records it (`certificates`: the asset's VPN or 802.1X client
//! certificate, by SHA-256 or serial) or when reconciliation learned it from
//! the asset (an earlier strong match served it).
//!
//! | certificate | served by | alert |
//! |---|---|---|
//! | recorded for a retired asset | any host, the asset itself too | raised: critical for a disposed asset, high for a decommissioned one |
//! | learned from a retired asset | a host matched to another asset, or to none | raised, as above |
//! | learned from a retired asset | a host matched to that same asset | nothing here: that is `should-be-retired` |
//!
//! One alert per retired asset (`asset:TAG`), listing each of its
//! credentials served and where. It does not resolve itself while the asset
//! stays retired: a full run that finds none of them served (every present
//! host's latest sweep having fetched certificates) marks it absent since
//! then, for a person to close once the certificate is revoked. It resolves
//! when the asset is back in service or the register no longer records the
//! certificate.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::rules::{Plan, World, describe, finding, with_sightings};
use super::sighting::Sighting;
use crate::alerts::evidence::{AssetRef, CredentialServed, CredentialsInUse, Evidence, HostSeen};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};
use crate::register::{Asset, Lifecycle};

/// How a certificate came to belong to an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tie {
    /// Recorded in the register, with its label.
    Recorded(String),
    /// Learned from a strong match.
    Learned,
}

/// One retired asset's claim on a certificate.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The asset as alerts carry it.
    pub asset: AssetRef,
    /// How the certificate is tied to it.
    pub tie: Tie,
}

/// The certificates of retired assets, by SHA-256 and by serial (both
/// plain lowercase hex). Built with the match index; small: only retired
/// assets that hold certificates are in it.
#[derive(Debug, Default)]
pub struct RetiredCredentials {
    by_sha: HashMap<String, Vec<Holder>>,
    by_serial: HashMap<String, Vec<Holder>>,
    /// Tags of the retired assets that hold any.
    tags: HashSet<String>,
}

impl RetiredCredentials {
    /// From the retired assets (those not retired are skipped) and the
    /// learned certificates (SHA-256 → tag).
    pub fn build(retired: &[Asset], learned: &HashMap<String, String>) -> Self {
        let mut out = RetiredCredentials::default();
        let by_tag: HashMap<&str, &Asset> =
            retired.iter().filter(|a| a.lifecycle.retired()).map(|a| (a.tag.as_str(), a)).collect();
        for a in by_tag.values() {
            for c in &a.certificates {
                let holder = Holder { asset: super::assets::asset_ref(a), tie: Tie::Recorded(c.label.clone()) };
                if let Some(sha) = &c.sha256 {
                    out.by_sha.entry(sha.clone()).or_default().push(holder.clone());
                }
                // A short serial (which only a fingerprint may come with) is
                // not matched: other issuers number theirs the same.
                if let Some(serial) = c.serial.as_ref().filter(|s| s.len() >= crate::register::model::MIN_SERIAL_ALONE)
                {
                    out.by_serial.entry(serial.clone()).or_default().push(holder);
                }
                out.tags.insert(a.tag.clone());
            }
        }
        for (sha, tag) in learned {
            if let Some(a) = by_tag.get(tag.as_str()) {
                let holders = out.by_sha.entry(sha.clone()).or_default();
                if !holders.iter().any(|h| h.asset.tag == a.tag) {
                    holders.push(Holder { asset: super::assets::asset_ref(a), tie: Tie::Learned });
                    out.tags.insert(a.tag.clone());
                }
            }
        }
        out
    }

    /// Nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether `tag` is a retired asset holding certificates.
    pub fn holds(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }

    fn holders<'a>(&'a self, sha: &str, serial: Option<&str>) -> impl Iterator<Item = &'a Holder> + 'a {
        let by_serial = serial.and_then(|s| self.by_serial.get(s)).into_iter().flatten();
        self.by_sha.get(sha).into_iter().flatten().chain(by_serial)
    }
}

/// What one retired asset's credentials are found doing.
#[derive(Default)]
struct InUse<'s> {
    asset: Option<AssetRef>,
    /// By SHA-256: the credential and where it is served.
    credentials: BTreeMap<String, CredentialServed>,
    hosts: Vec<&'s Sighting>,
}

/// Judge the certificates the present hosts `serving` serve; `matched[i]`
/// is the asset `serving[i]` matched, if any. `unfetched`: some present
/// host's latest sweep fetched no certificates (nothing may be marked absent).
pub fn judge(w: &World<'_>, serving: &[&Sighting], matched: &[Option<&str>], unfetched: bool, plan: &mut Plan) {
    let retired = &w.index.retired;
    let mut found: BTreeMap<String, InUse<'_>> = BTreeMap::new();
    if !retired.is_empty() {
        for (s, by) in serving.iter().zip(matched) {
            for c in &s.tls {
                for h in retired.holders(&c.sha256, c.serial.as_deref()) {
                    if h.tie == Tie::Learned && *by == Some(h.asset.tag.as_str()) {
                        continue;
                    }
                    let e = found.entry(h.asset.tag.clone()).or_default();
                    e.asset.get_or_insert_with(|| h.asset.clone());
                    let cred = e.credentials.entry(c.sha256.clone()).or_insert_with(|| CredentialServed {
                        sha256: c.sha256.clone(),
                        serial: c.serial.clone(),
                        subject: c.subject.clone(),
                        label: match &h.tie {
                            Tie::Recorded(l) => Some(l.clone()),
                            Tie::Learned => None,
                        },
                        tie: if h.tie == Tie::Learned { "learned".into() } else { "recorded".into() },
                        served_at: Vec::new(),
                    });
                    let at = format!("{}:{}", s.ip, c.port);
                    if !cred.served_at.contains(&at) {
                        cred.served_at.push(at);
                    }
                    if !e.hosts.iter().any(|x| std::ptr::eq(*x, *s)) {
                        e.hosts.push(s);
                    }
                }
            }
        }
    }
    for (tag, e) in &found {
        let Some(asset) = e.asset.clone() else { continue };
        let severity = if asset.lifecycle == Lifecycle::Disposed { Severity::Critical } else { Severity::High };
        let places: Vec<&str> =
            e.credentials.values().flat_map(|c| c.served_at.iter().map(String::as_str)).take(3).collect();
        let n = e.credentials.len();
        let summary = format!(
            "{tag} is {}{} but {} served at {}",
            asset.lifecycle,
            asset.lifecycle_since.map(|d| format!(" since {d}")).unwrap_or_default(),
            if n == 1 { "one of its certificates is".to_string() } else { format!("{n} of its certificates are") },
            places.join(", ")
        );
        let seen: Vec<HostSeen> = e.hosts.iter().map(|s| describe(s)).collect();
        let ev = Evidence::RetiredCredentialInUse(CredentialsInUse {
            asset,
            credentials: e.credentials.values().cloned().collect(),
            seen,
        });
        let mut f = finding(AlertKind::RetiredCredentialInUse, format!("asset:{tag}"), severity, summary, ev);
        f.tag = Some(tag.clone());
        plan.findings.push(with_sightings(f, e.hosts.iter().copied()));
    }
    if !w.full {
        return;
    }
    for (kind, subject) in &w.live_subjects {
        if *kind != AlertKind::RetiredCredentialInUse {
            continue;
        }
        let Some(tag) = subject.strip_prefix("asset:") else { continue };
        if found.contains_key(tag) {
            continue;
        }
        if !retired.holds(tag) {
            let reason = format!("{tag} is no longer retired, or the register no longer records its certificates");
            plan.clear(*kind, subject.clone(), ClearCause::Register, reason, w.now_ms);
        } else if !unfetched {
            let reason = "no host on the network serves its certificates any more".to_string();
            plan.clear(*kind, subject.clone(), ClearCause::Absent, reason, w.now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::model::asset_from_json;

    fn asset(tag: &str, lifecycle: &str, certs: serde_json::Value) -> Asset {
        asset_from_json(serde_json::json!({
            "tag": tag, "name": tag, "type": "endpoint", "lifecycle": lifecycle, "certificates": certs,
        }))
        .unwrap()
    }

    #[test]
    fn retired_assets_hold_their_recorded_and_learned_certificates_by_fingerprint_and_serial() {
        let sha = "ab".repeat(32);
        let assets = [
            asset("LT-1", "disposed", serde_json::json!([{ "label": "vpn", "serial": "00:5F:1E:0A:11:22:33:44:55" }])),
            // A short serial only comes with a fingerprint, and is matched by that alone.
            asset(
                "LT-9",
                "disposed",
                serde_json::json!([{ "label": "vpn", "serial": "01", "sha256": "aa".repeat(32) }]),
            ),
            asset("LT-2", "deployed", serde_json::json!([{ "label": "vpn", "sha256": "cd".repeat(32) }])),
            asset("SRV-1", "decommissioned", serde_json::json!([])),
        ];
        let learned: HashMap<String, String> =
            [(sha.clone(), "SRV-1".to_string()), ("ef".repeat(32), "LT-2".to_string())].into();
        let r = RetiredCredentials::build(&assets, &learned);
        let tags = |sha: &str, serial: Option<&str>| -> Vec<String> {
            r.holders(sha, serial).map(|h| h.asset.tag.clone()).collect()
        };
        assert_eq!(tags("00", Some("5f1e0a1122334455")), ["LT-1"], "by serial");
        assert!(tags("00", Some("1")).is_empty(), "another issuer's serial 01 is not LT-9's certificate");
        assert_eq!(tags(&"aa".repeat(32), Some("1")), ["LT-9"]);
        assert_eq!(tags(&sha, None), ["SRV-1"], "learned");
        assert!(tags(&"cd".repeat(32), None).is_empty(), "an asset in service holds nothing here");
        assert!(tags(&"ef".repeat(32), None).is_empty());
        assert!(r.holds("LT-1") && r.holds("SRV-1") && r.holds("LT-9") && !r.holds("LT-2"));
    }
}
