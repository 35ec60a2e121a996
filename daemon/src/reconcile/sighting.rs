//! A [`Sighting`]: the part of a host observation reconciliation needs,
//! small enough to keep one per address in the `hosts` table and load
//! 100,000 of them in a fraction of a second.

use census_proto::{HostObservation, NameSource, PortState, RawBatch, RunStatus, Technique};
use serde::{Deserialize, Serialize};

use crate::store::ms;

/// What one address looked like in its latest observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// Address.
    pub ip: String,
    /// MAC, on-link sweeps only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The MAC is locally administered (randomised): never identity on its own.
    #[serde(default)]
    pub mac_random: bool,
    /// MAC vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Other MACs that answered for the same IP in the same sweep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicting_macs: Vec<String>,
    /// Names with their source (`ptr`, `mdns`, `netbios`, `tls_cert`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<(String, String)>,
    /// SHA-256 of TLS certificates presented.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certs: Vec<String>,
    /// Open TCP ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<u16>,
    /// TCP ports probed (compact list), when the TCP sweep ran completely.
    /// Kept once per batch in the store (not per host) and joined back on
    /// load; shared by the batch's sightings (the list of a full port sweep
    /// is kilobytes).
    #[serde(skip)]
    pub probed: Option<std::sync::Arc<str>>,
    /// What services said about themselves on open ports: an SSH greeting,
    /// an HTTP `Server` header, or a scanner's `product version` (at most
    /// [`MAX_SOFTWARE`]); what end-of-life judgements read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<(u16, String)>,
    /// TLS certificates served on open ports, with their end of validity
    /// (at most [`MAX_SOFTWARE`]); what certificate alerts read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<ServedCert>,
    /// Most confident OS family guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Agent segment name.
    pub segment: String,
    /// Agent.
    pub agent: String,
    /// Batch.
    pub batch: String,
    /// First answer (unix ms).
    pub first_ms: i64,
    /// Last answer (unix ms).
    pub last_ms: i64,
    /// Names and services were looked up in that sweep.
    #[serde(default)]
    pub enriched: bool,
    /// Heard by passive listening only (an ARP announcement, a DHCP
    /// request): presence, but nothing about ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passive: bool,
}

impl Sighting {
    /// This sighting (from a sweep) refreshed by `heard`, a passive one of
    /// the same address: passive listening says nothing about ports,
    /// services or certificates, so those stay as the sweep saw them; it
    /// refreshes presence (`last_ms`), may name the MAC, adds the names it
    /// heard (DHCP, mDNS), and gives an OS guess only where the sweep had
    /// none (the sweep's TTL, SYN-ACK and banner evidence wins).
    pub fn heard(mut self, heard: &Sighting) -> Sighting {
        self.first_ms = self.first_ms.min(heard.first_ms);
        self.last_ms = self.last_ms.max(heard.last_ms);
        if self.mac.is_none() {
            self.mac.clone_from(&heard.mac);
            self.mac_random = heard.mac_random;
            self.vendor.clone_from(&heard.vendor);
        }
        self.add_names(heard.names.iter());
        if self.os.is_none() {
            self.os.clone_from(&heard.os);
        }
        self
    }

    /// Names only passive listening hears (a DHCP client's host name) kept
    /// from the `stored` sighting into this one, a sweep's, while the same
    /// MAC holds the address: a sweep cannot hear them, and dropping them at
    /// every sweep would flap the host's names between sweep and listening.
    /// Whether any were kept.
    pub fn keep_heard_names(&mut self, stored: &Sighting) -> bool {
        if self.mac.is_none() || self.mac != stored.mac {
            return false;
        }
        self.add_names(stored.names.iter().filter(|(_, source)| source == NameSource::Dhcp.as_str()))
    }

    /// Add the `(name, source)` pairs not held yet, keeping the list sorted;
    /// whether any was added.
    fn add_names<'a>(&mut self, names: impl Iterator<Item = &'a (String, String)>) -> bool {
        let before = self.names.len();
        for n in names {
            if !self.names.contains(n) {
                self.names.push(n.clone());
            }
        }
        self.names.sort_unstable();
        self.names.len() != before
    }
}

/// Service banners and certificates kept per sighting beyond those that
/// matter: a host showing more is a honeypot or a load balancer.
pub const MAX_SOFTWARE: usize = 16;

/// The banners of `h`'s open ports, as [`Sighting::software`] keeps them:
/// every banner that names a release ([`crate::eol::identify`]; distinct
/// releases, so none can be hidden behind many others), then other distinct
/// banners up to [`MAX_SOFTWARE`] (for an operator's `banner_contains`).
fn software(h: &HostObservation) -> Vec<(u16, String)> {
    let mut all = Vec::new();
    for p in h.ports.iter().filter(|p| p.state == PortState::Open) {
        let Some(svc) = p.service.as_deref() else { continue };
        if let Some(server) = svc.http.as_ref().and_then(|h| h.server.as_ref()) {
            all.push((p.port.0, server.clone()));
        }
        match (&svc.banner, &svc.product) {
            (Some(b), _) if !b.trim().is_empty() => all.push((p.port.0, b.clone())),
            (_, Some(product)) => {
                let text = [Some(product.as_str()), svc.version.as_deref()].into_iter().flatten().collect::<Vec<_>>();
                all.push((p.port.0, text.join(" ")));
            }
            _ => {}
        }
    }
    let mut out: Vec<(u16, String)> = Vec::new();
    let mut releases = Vec::new();
    for (port, b) in &all {
        if let Some(r) = crate::eol::identify::recognise(b) {
            let key = (r.product, r.release);
            if !releases.contains(&key) {
                releases.push(key);
                out.push((*port, b.clone()));
            }
        }
    }
    for (port, b) in all {
        if out.len() >= MAX_SOFTWARE + releases.len() {
            break;
        }
        if !out.iter().any(|(_, o)| *o == b) {
            out.push((port, b));
        }
    }
    out
}

/// A TLS certificate a host served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedCert {
    /// TCP port.
    pub port: u16,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Subject, e.g. `CN=www.example.org`.
    pub subject: String,
    /// End of validity (unix ms).
    pub not_after_ms: i64,
    /// Serial, plain lowercase hex (when the agent sent it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// The certificates `h` served: distinct ones, those ending soonest first,
/// at most [`MAX_SOFTWARE`] (an expired one cannot hide behind valid ones).
fn served_certs(h: &HostObservation) -> Vec<ServedCert> {
    let mut all: Vec<ServedCert> = h
        .ports
        .iter()
        .filter(|p| p.state == PortState::Open)
        .filter_map(|p| {
            let t = p.service.as_deref()?.tls.as_ref()?;
            Some(ServedCert {
                port: p.port.0,
                sha256: t.sha256.to_ascii_lowercase(),
                subject: t.subject.clone(),
                not_after_ms: ms(t.not_after),
                serial: t.serial.as_deref().map(crate::register::model::plain_serial).filter(|s| !s.is_empty()),
            })
        })
        .collect();
    all.sort_by(|a, b| a.not_after_ms.cmp(&b.not_after_ms).then(a.port.cmp(&b.port)));
    let mut out: Vec<ServedCert> = Vec::new();
    for c in all {
        if out.len() >= MAX_SOFTWARE {
            break;
        }
        if !out.iter().any(|o| o.sha256 == c.sha256 && o.port == c.port) {
            out.push(c);
        }
    }
    out
}

/// What every sighting of one batch shares.
#[derive(Debug, Clone)]
pub struct BatchContext {
    /// Segment name.
    pub segment: String,
    /// Agent name.
    pub agent: String,
    /// Batch id.
    pub batch: String,
    /// Ports the complete TCP sweep probed.
    pub probed: Option<std::sync::Arc<str>>,
    /// Enrichment ran.
    pub enriched: bool,
}

impl BatchContext {
    /// The context of a decoded batch delivered by `agent`.
    pub fn of(b: &RawBatch<'_>, agent: &str) -> Self {
        let probed = b
            .completeness
            .techniques
            .iter()
            .find(|t| t.technique == Technique::Tcp && t.status == RunStatus::Complete)
            .and_then(|t| t.ports.as_deref().map(std::sync::Arc::from));
        BatchContext {
            segment: b.segment.name.clone(),
            agent: agent.to_string(),
            batch: b.batch_id.to_string(),
            probed,
            enriched: b.completeness.enriched,
        }
    }
}

impl Sighting {
    /// The sighting of one observation.
    pub fn of(h: &HostObservation, ctx: &BatchContext) -> Self {
        let mut certs: Vec<String> =
            h.ports.iter().filter_map(|p| p.service.as_ref()?.tls.as_ref().map(|t| t.sha256.clone())).collect();
        certs.sort_unstable();
        certs.dedup();
        let mut names: Vec<(String, String)> =
            h.names.iter().map(|n| (n.name.to_ascii_lowercase(), n.source.as_str().to_string())).collect();
        names.sort_unstable();
        names.dedup();
        let os = h
            .fingerprints
            .iter()
            .filter(|f| f.kind == census_proto::FingerprintKind::OsFamily)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .map(|f| f.value.clone());
        Sighting {
            ip: h.ip.to_string(),
            mac: h.mac.as_ref().map(|m| m.address.to_string()),
            mac_random: h.mac.as_ref().is_some_and(|m| m.locally_administered),
            vendor: h.mac.as_ref().and_then(|m| m.vendor.clone()),
            conflicting_macs: h.conflicting_macs.iter().map(|m| m.address.to_string()).collect(),
            names,
            certs,
            open: h.ports.iter().filter(|p| p.state == PortState::Open).map(|p| p.port.0).collect(),
            software: software(h),
            tls: served_certs(h),
            probed: ctx.probed.clone(),
            os,
            segment: ctx.segment.clone(),
            agent: ctx.agent.clone(),
            batch: ctx.batch.clone(),
            first_ms: ms(h.first_seen),
            last_ms: ms(h.last_seen),
            enriched: ctx.enriched,
            passive: !h.seen_by.is_empty() && h.seen_by.iter().all(|t| *t == Technique::Passive),
        }
    }

    /// Its enrichment has arrived: the sweep looked up names and services.
    /// (A globally unique MAC without a vendor is a block the agent's IEEE
    /// registry does not know yet; waiting would not bring one.)
    pub fn enrichment_arrived(&self) -> bool {
        self.enriched
    }

    /// The most stable identity an unregistered device has, used to count
    /// its sightings and key its alert across IP and MAC changes:
    /// a globally unique MAC; else a TLS certificate; else a name (mDNS,
    /// NetBIOS, PTR); else, for a randomised MAC, the segment's pool of
    /// unnamed randomised devices (privacy MACs rotate — keying them by MAC
    /// would raise a "new device" every day); else the address.
    pub fn device_key(&self) -> String {
        if let (Some(mac), false) = (&self.mac, self.mac_random) {
            return format!("mac:{mac}");
        }
        if let Some(c) = self.certs.first() {
            return format!("cert:{c}");
        }
        let by_source = |src: &str| self.names.iter().find(|(_, s)| s == src).map(|(n, _)| n.clone());
        if let Some(n) = by_source("mdns")
            .or_else(|| by_source("netbios"))
            .or_else(|| by_source("dhcp"))
            .or_else(|| by_source("ptr"))
        {
            return format!("name:{n}");
        }
        if self.mac_random {
            return format!("random-mac@{}", self.segment);
        }
        format!("ip:{}", self.ip)
    }
}

#[cfg(test)]
mod heard_tests {
    use super::*;

    fn seen(mac: Option<&str>, names: &[(&str, &str)], open: &[u16], os: Option<&str>, last_ms: i64) -> Sighting {
        Sighting {
            ip: "198.18.0.21".into(),
            mac: mac.map(String::from),
            mac_random: false,
            vendor: None,
            conflicting_macs: vec![],
            names: names.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect(),
            certs: vec![],
            open: open.to_vec(),
            software: vec![],
            tls: vec![],
            probed: None,
            os: os.map(String::from),
            segment: "lab".into(),
            agent: "a1".into(),
            batch: "sweep".into(),
            first_ms: last_ms,
            last_ms,
            enriched: true,
            passive: false,
        }
    }

    const MAC: Option<&str> = Some("00:1b:21:00:00:21");

    #[test]
    fn a_heard_sighting_refreshes_a_swept_one_and_keeps_its_evidence() {
        let swept = seen(MAC, &[("web-21.lab", "ptr")], &[22, 443], Some("linux"), 1_000);
        let heard = Sighting { passive: true, ..seen(MAC, &[("web21", "dhcp")], &[], Some("windows"), 5_000) };
        let s = swept.clone().heard(&heard);
        assert_eq!((s.open.as_slice(), s.os.as_deref(), s.batch.as_str()), (&[22, 443][..], Some("linux"), "sweep"));
        assert_eq!((s.first_ms, s.last_ms, s.passive), (1_000, 5_000, false));
        assert_eq!(s.names, [("web-21.lab".into(), "ptr".into()), ("web21".into(), "dhcp".into())]);
        // Without an OS guess of its own, the sweep takes the DHCP one.
        assert_eq!(Sighting { os: None, ..swept }.heard(&heard).os.as_deref(), Some("windows"));
    }

    #[test]
    fn dhcp_names_stay_across_sweeps_only_while_the_same_mac_holds_the_address() {
        let stored = seen(MAC, &[("web-21.lab", "ptr"), ("web21", "dhcp")], &[22], None, 1_000);
        let mut next = seen(MAC, &[("web-21.lab", "ptr")], &[22], None, 2_000);
        assert!(next.keep_heard_names(&stored));
        assert_eq!(next.names.len(), 2);
        assert!(!next.keep_heard_names(&stored), "nothing more to keep");
        let mut other = seen(Some("00:1b:21:00:00:99"), &[], &[22], None, 3_000);
        assert!(!other.keep_heard_names(&stored), "the lease went to another device: its name goes too");
        assert!(other.names.is_empty());
    }
}

#[cfg(test)]
mod conflict_rule_tests {
    use crate::reconcile::identity::RegisterIndex;
    use crate::reconcile::rules::conflicting_macs;
    use census_proto::HostObservation;

    /// A host that answered from `own`, listing `others` as conflicting, as an agent would send it.
    fn answered(own: &str, others: &[&str]) -> HostObservation {
        let others: Vec<serde_json::Value> =
            others.iter().map(|m| serde_json::json!({ "address": m, "locally_administered": false })).collect();
        serde_json::from_value(serde_json::json!({
            "ip": "198.18.0.30", "mac": { "address": own, "locally_administered": false },
            "conflicting_macs": others, "seen_by": ["arp"],
            "first_seen": "2026-12-07T10:00:00Z", "last_seen": "2026-12-07T10:00:00Z",
        }))
        .unwrap()
    }

    /// The sighting of a host that answered from `own` (or no MAC), listing `others` as conflicting.
    fn seen(own: Option<&str>, others: &[&str]) -> super::Sighting {
        let mut h = answered(own.unwrap_or("00:1b:21:00:00:01"), others);
        if own.is_none() {
            h.mac = None;
        }
        let ctx = super::BatchContext {
            segment: "lab".into(),
            agent: "a1".into(),
            batch: "b1".into(),
            probed: None,
            enriched: false,
        };
        super::Sighting::of(&h, &ctx)
    }

    /// Regression (review of 2026-12-07): the host's own MAC listed as
    /// conflicting, or one MAC in two spellings, raised a high identity-conflict alert.
    #[test]
    fn the_own_mac_and_a_mac_spelled_twice_are_no_conflict() {
        let own = "00:1b:21:aa:0c:30";
        let index = RegisterIndex::default();
        assert_eq!(conflicting_macs(&seen(Some(own), &["00-1B-21-AA-0C-30", own]), &index), None);
        assert_eq!(
            conflicting_macs(&seen(Some(own), &["001b.21aa.0d51", "00-1B-21-AA-0D-51", "00:1b:21:aa:0d:52"]), &index),
            Some(vec![own.to_string(), "00:1b:21:aa:0d:51".to_string(), "00:1b:21:aa:0d:52".to_string()])
        );
    }

    /// Regression (review of 2026-12-07): a host without a MAC of its own,
    /// listing one conflicting MAC (in two spellings), raised "answered from
    /// 2 MACs: , 00:1b:21:00:32:32"; with two it said 3.
    #[test]
    fn a_host_without_its_own_mac_conflicts_only_among_those_it_listed() {
        let index = RegisterIndex::default();
        assert_eq!(conflicting_macs(&seen(None, &["00:1b:21:00:32:32", "00-1B-21-00-32-32"]), &index), None);
        assert_eq!(
            conflicting_macs(&seen(None, &["00:1b:21:00:32:32", "00:1b:21:00:32:33"]), &index),
            Some(vec!["00:1b:21:00:32:32".to_string(), "00:1b:21:00:32:33".to_string()])
        );
        assert_eq!(
            conflicting_macs(&seen(Some("00:1b:21:00:32:31"), &["00:1b:21:00:32:32"]), &index),
            Some(vec!["00:1b:21:00:32:31".to_string(), "00:1b:21:00:32:32".to_string()])
        );
    }
}
