//! The reconciliation rules: from the register, the latest sightings and the
//! sweep history to [`Finding`]s — pure, no I/O, so every rule is tested
//! with plain values and the full run is benchmarked without a database.
//!
//! One rule per alert kind; each finding carries the evidence a responder
//! needs to act without opening another tool.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::identity::{Identity, RegisterIndex};
use super::sighting::Sighting;
use crate::alerts::{AlertKind, Finding, Severity};
use crate::register::{Asset, Day};

/// An unregistered device's sighting history (its debounce state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Device key (see [`Sighting::device_key`]).
    pub key: String,
    /// First sighting (unix ms).
    pub first_ms: i64,
    /// Last sighting (unix ms).
    pub last_ms: i64,
    /// Batches it was seen in.
    pub sightings: i64,
    /// Last batch counted.
    pub last_batch: String,
    /// Its enrichment (vendor, names, services) has arrived.
    pub enriched: bool,
}

/// What reconciliation remembers per asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetState {
    /// First time matched (unix ms).
    pub first_seen_ms: Option<i64>,
    /// Last time matched (unix ms).
    pub last_seen_ms: Option<i64>,
    /// Address it was last seen at.
    pub last_ip: Option<String>,
    /// Agent that last saw it.
    pub last_agent: Option<String>,
    /// Open ports accepted as normal (set at first sighting, grown when a
    /// new-service alert is resolved by a person).
    pub baseline: Option<Vec<u16>>,
}

/// Complete sweeps of one scope (same segment, targets and exclusions).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGroup {
    /// Segment name.
    pub segment: String,
    /// Networks swept.
    pub targets: Vec<ipnet::IpNet>,
    /// Networks left out.
    pub excluded: Vec<ipnet::IpNet>,
    /// (started, finished) unix ms of each complete sweep, by finish time.
    pub runs: Vec<(i64, i64)>,
}

impl SweepGroup {
    /// Whether these sweeps look where `a` should be.
    pub fn covers(&self, a: &Asset) -> bool {
        let out = |ip: &std::net::IpAddr| self.excluded.iter().any(|e| e.contains(ip));
        if let Some(seg) = a.expected_segment
            && self.targets.iter().any(|t| t.contains(&seg))
            && !out(&seg.network())
        {
            return true;
        }
        a.ips.iter().any(|ip| self.targets.iter().any(|t| t.contains(ip)) && !out(ip))
    }

    /// Sweeps that finished after `since`: (count, earliest start, latest finish).
    pub fn after(&self, since: i64) -> Option<(usize, i64, i64)> {
        let i = self.runs.partition_point(|r| r.1 <= since);
        let rest = &self.runs[i..];
        let first = rest.iter().map(|r| r.0).min()?;
        Some((rest.len(), first, rest.last().map_or(0, |r| r.1)))
    }
}

/// Thresholds, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A sighting this recent means "on the network now" (ms).
    pub seen_window_ms: i64,
    /// Missing after (ms), per type, with a default.
    pub missing_after_ms: HashMap<crate::register::AssetType, i64>,
    /// Default missing-after (ms).
    pub missing_default_ms: i64,
    /// Unknown-asset debounce: sightings.
    pub unknown_after_sightings: i64,
    /// Unknown-asset debounce: time since first sighting (ms).
    pub unknown_after_ms: i64,
}

impl Settings {
    /// From the daemon configuration.
    pub fn from_config(c: &crate::config::ReconcileConfig) -> Self {
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        Settings {
            seen_window_ms: ms(c.seen_window),
            missing_after_ms: c.missing_after_by_type.iter().map(|(t, d)| (*t, ms(*d))).collect(),
            missing_default_ms: ms(c.missing_after),
            unknown_after_sightings: i64::from(c.unknown_after_sightings),
            unknown_after_ms: ms(c.unknown_after),
        }
    }
}

/// Everything one run looks at.
pub struct World<'a> {
    /// The register.
    pub index: &'a RegisterIndex,
    /// Thresholds.
    pub settings: &'a Settings,
    /// Latest sightings of the hosts to evaluate.
    pub sightings: Vec<Sighting>,
    /// Sightings of the batch being ingested, to count for debounce (empty on a full run).
    pub counted: Vec<Sighting>,
    /// Debounce state of the devices involved.
    pub devices: HashMap<String, DeviceRecord>,
    /// Per-asset state of the assets involved.
    pub states: HashMap<String, AssetState>,
    /// Complete sweeps within the longest missing-after window.
    pub sweeps: Vec<SweepGroup>,
    /// Assets to evaluate: `None` for all.
    pub tags: Option<HashSet<String>>,
    /// Subjects with a live alert: only they need a reason when they clear.
    pub live_subjects: HashSet<String>,
    /// Now (unix ms).
    pub now_ms: i64,
}

/// What a run decided.
#[derive(Debug, Default)]
pub struct Plan {
    /// Each evaluated host's identity, by address.
    pub matches: Vec<(String, Identity)>,
    /// Device records to write.
    pub devices: Vec<DeviceRecord>,
    /// Asset states to write.
    pub states: Vec<(String, AssetState)>,
    /// Certificates newly tied to assets.
    pub learned: Vec<(String, String)>,
    /// Conditions that hold now.
    pub findings: Vec<Finding>,
    /// Live alerts on subjects outside this set are left alone; `None`: all subjects.
    pub resolvable: Option<HashSet<String>>,
    /// Why a subject's alert cleared, when the run knows better than "condition cleared".
    pub clear_reasons: HashMap<String, String>,
    /// Now (unix ms).
    pub now_ms: i64,
}

fn finding(
    kind: AlertKind,
    subject: String,
    severity: Severity,
    summary: String,
    evidence: serde_json::Value,
) -> Finding {
    Finding {
        kind,
        subject,
        severity,
        tag: None,
        ip: None,
        mac: None,
        vendor: None,
        segment: None,
        agent: None,
        summary,
        evidence,
        first_seen_ms: 0,
        last_seen_ms: 0,
    }
}

fn with_sighting(mut f: Finding, s: &Sighting) -> Finding {
    f.ip = Some(s.ip.clone());
    f.mac = s.mac.clone();
    f.vendor = s.vendor.clone();
    f.segment = Some(s.segment.clone());
    f.agent = Some(s.agent.clone());
    f.first_seen_ms = s.first_ms;
    f.last_seen_ms = s.last_ms;
    f
}

/// Run the rules.
pub fn run(w: World<'_>) -> Plan {
    let now = w.now_ms;
    let window_start = now - w.settings.seen_window_ms;
    let mut plan = Plan { now_ms: now, ..Default::default() };
    let mut devices = w.devices.clone();
    // Count this batch's unknown sightings (debounce), once per device per batch.
    for s in &w.counted {
        if !matches!(w.index.identify(s), Identity::Unknown) {
            continue;
        }
        let key = s.device_key();
        let enriched = s.enrichment_arrived();
        let d = devices.entry(key.clone()).or_insert_with(|| DeviceRecord {
            key,
            first_ms: s.first_ms,
            last_ms: s.last_ms,
            sightings: 0,
            last_batch: String::new(),
            enriched: false,
        });
        if d.last_batch != s.batch {
            d.sightings += 1;
            d.last_batch = s.batch.clone();
        }
        d.first_ms = d.first_ms.min(s.first_ms);
        d.last_ms = d.last_ms.max(s.last_ms);
        d.enriched |= enriched;
        plan.devices.push(d.clone());
    }

    let identities = super::parallel_map(&w.sightings, |s| w.index.identify(s));
    let mut by_tag: HashMap<&str, Vec<(&Sighting, &super::identity::Match)>> = HashMap::new();
    let mut resolvable = HashSet::new();
    // A full run may resolve anything: no need to list what it looked at.
    let track = !(w.tags.is_none() && w.counted.is_empty());
    let mut conflicts: HashMap<String, Finding> = HashMap::new();
    let mut unknown: HashMap<String, (Finding, Vec<String>)> = HashMap::new();
    for (s, id) in w.sightings.iter().zip(&identities) {
        if track {
            resolvable.insert(format!("ip:{}", s.ip));
        }
        let live = s.last_ms >= window_start;
        match id {
            Identity::Matched(m) => {
                let key = if w.live_subjects.is_empty() { String::new() } else { s.device_key() };
                let subject = format!("device:{key}");
                if !key.is_empty() && !key.starts_with("random-mac@") && w.live_subjects.contains(&subject) {
                    resolvable.insert(subject);
                    plan.clear_reasons.insert(
                        format!("device:{key}"),
                        format!("now matches asset {} ({})", m.tag, m.rules.join(", ")),
                    );
                }
                if live {
                    by_tag.entry(m.tag.as_str()).or_default().push((s, m));
                }
            }
            Identity::Ambiguous { candidates } if live => {
                let f = conflicts.entry(s.ip.clone()).or_insert_with(|| conflict_finding(s));
                f.evidence["ambiguous_candidates"] = json!(candidates);
                f.summary = format!("{} fits {} register assets equally; decide which it is", s.ip, candidates.len());
            }
            Identity::Unknown if live => {
                let key = s.device_key();
                if !devices.contains_key(&key) {
                    // Seen before its batch was reconciled (a restart, a failed run): start counting now.
                    let d = DeviceRecord {
                        key: key.clone(),
                        first_ms: s.first_ms,
                        last_ms: s.last_ms,
                        sightings: 1,
                        last_batch: s.batch.clone(),
                        enriched: s.enrichment_arrived(),
                    };
                    plan.devices.push(d.clone());
                    devices.insert(key.clone(), d);
                }
                let Some(d) = devices.get(&key) else { continue };
                let debounced = d.sightings >= w.settings.unknown_after_sightings
                    || now - d.first_ms >= w.settings.unknown_after_ms;
                let waited_long = d.sightings >= 3 * w.settings.unknown_after_sightings;
                if !(debounced && (d.enriched || waited_long)) {
                    continue;
                }
                let e = unknown.entry(key.clone()).or_insert_with(|| {
                    let mut f = with_sighting(
                        finding(
                            AlertKind::UnknownAsset,
                            format!("device:{key}"),
                            Severity::Medium,
                            String::new(),
                            json!({ "device_key": key, "sightings": d.sightings, "first_seen_ms": d.first_ms }),
                        ),
                        s,
                    );
                    f.first_seen_ms = d.first_ms;
                    if !d.enriched {
                        f.evidence["note"] = json!("names and services were never looked up by the agent");
                    }
                    (f, Vec::new())
                });
                e.1.push(s.ip.clone());
                e.0.last_seen_ms = e.0.last_seen_ms.max(s.last_ms);
                e.0.evidence["hosts"].as_array_mut().map(|a| a.push(describe(s))).unwrap_or_else(|| {
                    e.0.evidence["hosts"] = json!([describe(s)]);
                });
            }
            _ => {}
        }
        if live && !s.conflicting_macs.is_empty() {
            let f = conflicts.entry(s.ip.clone()).or_insert_with(|| conflict_finding(s));
            let mut macs = vec![s.mac.clone().unwrap_or_default()];
            macs.extend(s.conflicting_macs.iter().cloned());
            f.evidence["macs"] = json!(macs);
            f.summary = format!("{} answered from {} MACs in one sweep: {}", s.ip, macs.len(), macs.join(", "));
        }
    }
    for (_, (mut f, ips)) in unknown {
        let what = describe_short(&f);
        f.summary = format!("unregistered device {what} at {}", ips.join(", "));
        plan.findings.push(f);
    }
    plan.findings.extend(conflicts.into_values());

    let tags: Vec<&str> = match &w.tags {
        Some(t) => t.iter().map(String::as_str).collect(),
        None => w.index.assets.keys().map(String::as_str).collect(),
    };
    for tag in tags {
        let Some(asset) = w.index.assets.get(tag) else { continue };
        if track {
            resolvable.insert(format!("asset:{tag}"));
        }
        let seen = by_tag.get(tag).map_or(&[][..], Vec::as_slice);
        let mut state = w.states.get(tag).cloned().unwrap_or_default();
        let before = state.clone();
        super::assets::evaluate(&w, asset, seen, &mut state, &mut plan);
        if state != before {
            plan.states.push((tag.to_string(), state));
        }
    }
    drop(by_tag);
    plan.matches = w.sightings.iter().map(|s| s.ip.clone()).zip(identities).collect();
    plan.resolvable = track.then_some(resolvable);
    plan
}

fn conflict_finding(s: &Sighting) -> Finding {
    with_sighting(
        finding(
            AlertKind::IdentityConflict,
            format!("ip:{}", s.ip),
            Severity::High,
            String::new(),
            json!({ "ip": s.ip, "seen": describe(s) }),
        ),
        s,
    )
}

/// A sighting as evidence.
pub fn describe(s: &Sighting) -> serde_json::Value {
    json!({
        "ip": s.ip, "mac": s.mac, "mac_randomised": s.mac_random, "vendor": s.vendor,
        "names": s.names.iter().map(|(n, src)| format!("{n} ({src})")).collect::<Vec<_>>(),
        "open_ports": s.open, "os": s.os, "segment": s.segment, "agent": s.agent,
        "batch": s.batch, "last_seen_ms": s.last_ms,
    })
}

fn describe_short(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &f.mac {
        parts.push(m.clone());
    }
    if let Some(v) = &f.vendor {
        parts.push(format!("({v})"));
    }
    let names: Vec<String> = f.evidence["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !names.is_empty() {
        parts.push(format!("named {}", names.join(", ")));
    }
    if parts.is_empty() { f.subject.trim_start_matches("device:").to_string() } else { parts.join(" ") }
}

/// Today in UTC for date comparisons.
pub fn day_of(now_ms: i64) -> Day {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Day(t.date())
}
