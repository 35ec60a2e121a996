//! Explainable identity matching: which register asset is this host?
//!
//! Every piece of evidence adds to a candidate asset's score, and the rule
//! that added it is kept, so a match always says why:
//!
//! | rule              | score | why                                              |
//! |-------------------|-------|--------------------------------------------------|
//! | `mac`             | 100   | a globally unique MAC recorded on the asset      |
//! | `tls-cert`        | 80    | a certificate already tied to the asset          |
//! | `hostname`        | 60    | a PTR/mDNS/NetBIOS name recorded on the asset    |
//! | `recorded-ip`     | 30    | weak: DHCP moves addresses                       |
//! | `random-mac`      | 25    | weak: a randomised MAC is not identity on its own|
//! | `expected-segment`| +10   | weak support, never a candidate by itself        |
//! | `mac-differs`     | -40   | the asset's recorded MACs do not include the one seen |
//!
//! A host matches when its best score reaches [`MATCH_THRESHOLD`]; two
//! assets tied for best are *ambiguous* and surfaced for review, never
//! guessed. Weak evidence alone (a recorded IP, a randomised MAC) against
//! a contradicting globally unique MAC matches nothing: that is DHCP
//! handing the address to another machine.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::sighting::Sighting;
use crate::register::Asset;

/// Least score that makes a match.
pub const MATCH_THRESHOLD: i32 = 30;

/// The register, indexed for matching.
#[derive(Debug, Default)]
pub struct RegisterIndex {
    /// Every asset, by tag.
    pub assets: HashMap<String, Asset>,
    /// When each asset entered the register (unix ms).
    pub created_ms: HashMap<String, i64>,
    by_mac: HashMap<String, Vec<String>>,
    by_ip: HashMap<String, Vec<String>>,
    by_name: HashMap<String, Vec<String>>,
    /// Certificates tied to assets by earlier strong matches.
    pub learned: HashMap<String, String>,
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

impl RegisterIndex {
    /// Index `assets` (with their creation times) and learned certificates.
    pub fn new(assets: Vec<(Asset, i64)>, learned: HashMap<String, String>) -> Self {
        let mut idx = RegisterIndex { learned, ..Default::default() };
        for (a, created) in assets {
            for m in &a.macs {
                idx.by_mac.entry(m.to_string()).or_default().push(a.tag.clone());
            }
            for ip in &a.ips {
                idx.by_ip.entry(ip.to_string()).or_default().push(a.tag.clone());
            }
            for h in &a.hostnames {
                idx.by_name.entry(h.clone()).or_default().push(a.tag.clone());
                if short(h) != h {
                    idx.by_name.entry(short(h).to_string()).or_default().push(a.tag.clone());
                }
            }
            idx.created_ms.insert(a.tag.clone(), created);
            idx.assets.insert(a.tag.clone(), a);
        }
        for v in idx.by_name.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        idx
    }

    /// Tags whose register entry names this MAC.
    pub fn tags_by_mac(&self, mac: &str) -> &[String] {
        self.by_mac.get(mac).map_or(&[], Vec::as_slice)
    }

    /// Match one sighting.
    pub fn identify(&self, s: &Sighting) -> Identity {
        // Candidates are few (usually one): a small vector beats a map.
        let mut cands: Vec<(&str, (i32, Vec<String>))> = Vec::new();
        let mut add = |tag: &'_ str, score: i32, rule: String| {
            let Some((key, _)) = self.assets.get_key_value(tag) else { return };
            match cands.iter_mut().find(|(t, _)| *t == key.as_str()) {
                Some((_, e)) => {
                    e.0 += score;
                    e.1.push(rule);
                }
                None => cands.push((key.as_str(), (score, vec![rule]))),
            }
        };
        if let Some(mac) = &s.mac {
            for t in self.tags_by_mac(mac) {
                if s.mac_random {
                    add(t, 25, format!("random-mac {mac} (weak)"));
                } else {
                    add(t, 100, format!("mac {mac}"));
                }
            }
        }
        for c in &s.certs {
            if let Some(t) = self.learned.get(c) {
                add(t, 80, format!("tls-cert {}", &c[..c.len().min(16)]));
            }
        }
        let mut named: Vec<&str> = Vec::new();
        for (n, src) in &s.names {
            for key in [n.as_str(), short(n)] {
                for t in self.by_name.get(key).map_or(&[][..], Vec::as_slice) {
                    if !named.contains(&t.as_str()) {
                        named.push(t);
                        add(t, 60, format!("hostname {n} ({src})"));
                    }
                }
            }
        }
        for t in self.by_ip.get(&s.ip).map_or(&[][..], Vec::as_slice) {
            add(t, 30, format!("recorded-ip {} (weak)", s.ip));
        }
        let ip: Option<IpAddr> = s.ip.parse().ok();
        let mut scored: Vec<Candidate> = Vec::with_capacity(cands.len());
        for (tag, (mut score, mut rules)) in cands {
            let Some(asset) = self.assets.get(tag) else { continue };
            if let (Some(seg), Some(ip)) = (asset.expected_segment, ip)
                && seg.contains(&ip)
            {
                score += 10;
                rules.push(format!("expected-segment {seg} (weak)"));
            }
            let strong = rules.iter().any(|r| r.starts_with("mac ") || r.starts_with("tls-cert"));
            if let (Some(mac), false, false) = (&s.mac, s.mac_random, asset.macs.is_empty())
                && !strong
            {
                let named = rules.iter().any(|r| r.starts_with("hostname"));
                if !named {
                    // Weak evidence against a contradicting real MAC: another machine.
                    continue;
                }
                score -= 40;
                rules.push(format!("mac-differs: {mac} is not recorded on the asset"));
            }
            scored.push(Candidate { tag: tag.to_string(), score, rules });
        }
        scored.retain(|c| c.score >= MATCH_THRESHOLD);
        scored.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.tag.cmp(&b.tag)));
        match scored.len() {
            0 => Identity::Unknown,
            1 => Identity::Matched(Match::from(scored.remove(0))),
            _ if scored[0].score > scored[1].score => Identity::Matched(Match::from(scored.remove(0))),
            _ => {
                let best = scored[0].score;
                scored.retain(|c| c.score == best);
                Identity::Ambiguous { candidates: scored }
            }
        }
    }
}

/// A candidate asset with its score and the rules behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Asset tag.
    pub tag: String,
    /// Summed score.
    pub score: i32,
    /// The rules that scored, in order.
    pub rules: Vec<String>,
}

/// A match: the asset, how sure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    /// Asset tag.
    pub tag: String,
    /// 0.0-1.0: the score over 100, capped.
    pub confidence: f64,
    /// The rules that made it.
    pub rules: Vec<String>,
}

impl From<Candidate> for Match {
    fn from(c: Candidate) -> Self {
        Match { tag: c.tag, confidence: (f64::from(c.score.min(100)) / 100.0), rules: c.rules }
    }
}

impl Match {
    /// Matched on a globally unique MAC or a learned certificate.
    pub fn strong(&self) -> bool {
        self.rules.iter().any(|r| r.starts_with("mac ") || r.starts_with("tls-cert"))
    }
}

/// The outcome of matching one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Identity {
    /// One asset fits best.
    Matched(Match),
    /// Several fit equally: a person must decide.
    Ambiguous {
        /// The tied candidates.
        candidates: Vec<Candidate>,
    },
    /// Nothing fits: shadow IT until someone registers it.
    Unknown,
}
