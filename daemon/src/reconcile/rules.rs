//! The reconciliation rules: from the register, the latest sightings, the
//! batch being ingested and the complete sweeps to [`Finding`]s (conditions
//! that hold) and [`Clear`]s (conditions that no longer hold, and why) —
//! pure, no I/O, so every rule is tested with plain values and the full run
//! is benchmarked without a database.
//!
//! Verdicts depend only on what was observed and when it was observed,
//! never on when a batch arrived:
//! - "on the network now" is [`Presence`]: a host is present until complete
//!   sweeps of a scope covering it ran after its last sighting without it
//!   (`gone_after_sweeps`, default 2); hosts no complete sweep covers fall
//!   back to `seen_window`;
//! - events are judged on the batch's own sightings, late or not: two MACs
//!   on one address, a retired asset answering, an unregistered device's
//!   sightings (its debounce counts distinct batches and observation-time
//!   spread), so a conflict in a batch delivered days late is still raised;
//! - per-asset state merges observations commutatively (first/last seen as
//!   min/max, the port baseline from the earliest sighting), so batches
//!   arriving in any order leave the same state.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::identity::{Identity, RegisterIndex};
use super::sighting::Sighting;
use super::sweeps::{AgentCadence, Misses, SweepIndex};
use crate::alerts::evidence::{AddressConflict, Conflict, Evidence, HostSeen, Silence, UnknownDevice};
use crate::alerts::lifecycle::{Clear, ClearCause};
use crate::alerts::{AlertKind, Finding, Severity};
use crate::register::{Asset, Day};

/// An unregistered device's sighting history (its debounce state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Device key (see [`Sighting::device_key`]).
    pub key: String,
    /// First sighting (unix ms, observation time).
    pub first_ms: i64,
    /// Last sighting (unix ms, observation time).
    pub last_ms: i64,
    /// Distinct batches it was seen in.
    pub sightings: i64,
    /// Last batch counted.
    pub last_batch: String,
    /// Names and services were looked up in at least one of its sweeps.
    pub enriched: bool,
}

/// What reconciliation remembers per asset: observations merged
/// commutatively, so the order batches arrive in does not matter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssetState {
    /// First time matched (unix ms, observation time).
    pub first_seen_ms: Option<i64>,
    /// Last time matched (unix ms, observation time).
    pub last_seen_ms: Option<i64>,
    /// Address it was last seen at.
    pub last_ip: Option<String>,
    /// Agent that last saw it.
    pub last_agent: Option<String>,
    /// Open ports of its earliest sighting: what is normal for it.
    pub baseline: Option<Vec<u16>>,
    /// Observation time of the sighting the baseline comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_ms: Option<i64>,
    /// Ports a person accepted by resolving a new-service alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<u16>,
}

/// Thresholds, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts no complete sweep covers count as present this long after their last sighting (ms).
    pub seen_window_ms: i64,
    /// A host is gone after this many complete covering sweeps without it.
    pub gone_after_sweeps: usize,
    /// Complete sweeps without an answer that verify a retired asset is off the network.
    pub retirement_sweeps: usize,
    /// Missing after (ms), per type, with a default.
    pub missing_after_ms: HashMap<crate::register::AssetType, i64>,
    /// Default missing-after (ms).
    pub missing_default_ms: i64,
    /// Unknown-asset debounce: sightings (distinct batches).
    pub unknown_after_sightings: i64,
    /// Unknown-asset debounce: spread between first and last sighting (ms, observation time).
    pub unknown_after_ms: i64,
    /// The alert lifecycle's thresholds.
    pub lifecycle: crate::alerts::lifecycle::LifecycleSettings,
    /// End-of-support dates (built in, with the operator's file over them).
    pub end_of_life: std::sync::Arc<crate::eol::EolTable>,
    /// A served certificate ending within this is expiring (ms).
    pub certificate_lead_ms: i64,
}

impl Settings {
    /// From the daemon configuration.
    pub fn from_config(c: &crate::config::ReconcileConfig) -> Self {
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        Settings {
            seen_window_ms: ms(c.seen_window),
            gone_after_sweeps: c.gone_after_sweeps as usize,
            retirement_sweeps: c.retirement_sweeps as usize,
            missing_after_ms: c.missing_after_by_type.iter().map(|(t, d)| (*t, ms(*d))).collect(),
            missing_default_ms: ms(c.missing_after),
            unknown_after_sightings: i64::from(c.unknown_after_sightings),
            unknown_after_ms: ms(c.unknown_after),
            lifecycle: crate::alerts::lifecycle::LifecycleSettings {
                reopen_window_ms: ms(c.reopen_window),
                clear_after_sweeps: i64::from(c.clear_after_sweeps),
                flood_per_hour: i64::from(c.alert_flood_per_hour),
            },
            end_of_life: c.end_of_life.clone(),
            certificate_lead_ms: ms(c.certificate_lead),
        }
    }

    /// How far back reconciliation looks (ms before now): the longest
    /// missing-after or seen window, plus a day.
    pub fn horizon_ms(&self) -> i64 {
        let longest = self.missing_after_ms.values().copied().max().unwrap_or(0).max(self.missing_default_ms);
        longest.max(self.seen_window_ms) + 86_400_000
    }
}

/// Everything one run looks at.
pub struct World<'a> {
    /// The register.
    pub index: &'a RegisterIndex,
    /// Thresholds.
    pub settings: &'a Settings,
    /// Complete sweeps within the horizon.
    pub sweeps: &'a SweepIndex,
    /// Latest sightings of the hosts to evaluate (one per address).
    pub sightings: Vec<Sighting>,
    /// The sightings of the batch being ingested, late or not (empty on a full run).
    pub batch: Vec<Sighting>,
    /// Debounce state of the devices involved.
    pub devices: HashMap<String, DeviceRecord>,
    /// Per-asset state of the assets involved.
    pub states: HashMap<String, AssetState>,
    /// The assets to evaluate, from the store: those the batch touches, or
    /// on a full run the whole register, a page at a time (so a run never
    /// holds every asset decoded). Assets the index does not hold yet are
    /// skipped until the next run.
    pub assets: Box<dyn Iterator<Item = Asset> + 'a>,
    /// Agents whose cadence to judge (all on a full run, the batch's agent after an ingest).
    pub agents: Vec<String>,
    /// A full run: it may raise `agent-silent` (an ingest only clears it, so
    /// a spool draining old batches never raises one on the way).
    pub full: bool,
    /// Agents whose tokens were revoked: no longer expected to sweep.
    pub revoked: HashSet<String>,
    /// Full runs: subjects of live alerts, to clear those whose asset left the register.
    pub live_subjects: Vec<(AlertKind, String)>,
    /// The (kind, subject) pairs that may have an alert: clears of any other
    /// are dropped as they are made (`None` keeps every clear).
    pub alerted: Option<std::sync::Arc<super::alerted::Subjects>>,
    /// The people directory, for owners.
    pub directory: &'a crate::directory::standing::Directory,
    /// Licence entitlements (full runs judge `unlicensed-software`).
    pub entitlements: &'a [crate::licences::Entitlement],
    /// When each retired asset's retirement started (unix ms, by lowercase
    /// tag; [`crate::retirement::RetirementRecord::started_ms`]): the moment
    /// of the change, finer than its `lifecycle_since` day.
    pub retired_since: &'a HashMap<String, i64>,
    /// Coverage sources with their lists (full runs judge them).
    pub sources: &'a [crate::sources::Source],
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
    /// Conditions that cleared, by (kind, subject), with why.
    pub clears: HashMap<(AlertKind, String), Clear>,
    /// Agents whose new device alerts count against their hourly budget.
    pub agents: Vec<String>,
    /// Batches this run reconciled (marked done in the same transaction).
    pub batches: Vec<String>,
    /// Now (unix ms).
    pub now_ms: i64,
    /// The run's filter for clears (see [`World::alerted`]); dropped before commit.
    pub alerted: Option<std::sync::Arc<super::alerted::Subjects>>,
    /// The shared turn a full reconcile decided this plan under
    /// ([`crate::store::Turn::fence`]): the store commits the plan only
    /// while that turn is still the latest granted and still held, and
    /// refuses it ([`crate::store::StoreError::Busy`]) otherwise. `None`:
    /// an incremental run, or a store serving one daemon.
    pub turn: Option<crate::store::TurnFence>,
}

impl Plan {
    /// Every subject the plan has something to say about (its alerts must be loaded).
    pub fn subjects(&self) -> Vec<String> {
        let mut s: BTreeSet<&str> = self.findings.iter().map(|f| f.subject.as_str()).collect();
        s.extend(self.clears.keys().map(|(_, subject)| subject.as_str()));
        let mut out: Vec<String> = s.into_iter().map(String::from).collect();
        out.extend(self.agents.iter().map(|a| format!("agent:{a}")));
        out.sort();
        out.dedup();
        out
    }

    /// Whether a clear of (`kind`, `subject`) could change anything: false
    /// when that subject never had an alert of that kind.
    pub fn wants_clear(&self, kind: AlertKind, subject: &str) -> bool {
        self.alerted.as_ref().is_none_or(|a| a.may_have(kind, subject))
    }

    /// Some subject may have an alert of `kind` (a clear of that kind could change something).
    pub fn kind_alerted(&self, kind: AlertKind) -> bool {
        self.alerted.as_ref().is_none_or(|a| a.any(kind))
    }

    /// Record that the condition (`kind`, `subject`) no longer holds, and
    /// why; the first clear of a pair wins, and one that could change
    /// nothing is not kept (see [`Plan::wants_clear`]).
    pub fn clear(&mut self, kind: AlertKind, subject: String, cause: ClearCause, reason: String, at_ms: i64) {
        if self.wants_clear(kind, &subject) {
            self.clears.entry((kind, subject)).or_insert(Clear { cause, reason, at_ms });
        }
    }
}

/// Whether a host is on the network now, by its segment's sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// Present (not gone).
    pub present: bool,
    /// The sweeps that missed it.
    pub misses: Misses,
}

/// Presence of one sighting.
pub fn presence(s: &Sighting, sweeps: &SweepIndex, settings: &Settings, now_ms: i64) -> Presence {
    presence_at(&s.ip, s.last_ms, sweeps, settings, now_ms)
}

/// Presence of address `ip` last seen at `last_ms`: complete sweeps covering
/// it decide; an address no complete sweep covers falls back to `seen_window`.
pub fn presence_at(ip: &str, last_ms: i64, sweeps: &SweepIndex, settings: &Settings, now_ms: i64) -> Presence {
    let misses = match ip.parse() {
        Ok(ip) => sweeps.misses_ip(&ip, last_ms),
        Err(_) => Misses { count: 0, last_finish_ms: i64::MIN, covered: false },
    };
    let present = if misses.covered {
        misses.count < settings.gone_after_sweeps
    } else {
        now_ms - last_ms < settings.seen_window_ms
    };
    Presence { present, misses }
}

pub(super) fn finding(
    kind: AlertKind,
    subject: String,
    severity: Severity,
    summary: String,
    evidence: Evidence,
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

/// `f` about several sightings: where it was seen last (the latest
/// sighting's address, MAC, vendor, segment, agent) and first and last seen
/// over all of them (0 when there are none).
pub(super) fn with_sightings<'s>(f: Finding, seen: impl Iterator<Item = &'s Sighting> + Clone) -> Finding {
    let mut f = match seen.clone().max_by_key(|s| s.last_ms) {
        Some(latest) => with_sighting(f, latest),
        None => f,
    };
    f.first_seen_ms = seen.clone().map(|s| s.first_ms).min().unwrap_or(0);
    f.last_seen_ms = seen.map(|s| s.last_ms).max().unwrap_or(0);
    f
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

/// The MACs behind an address conflict, or `None` when there is none: one
/// MAC, or several that the register ties to one asset (a multi-homed host
/// answering ARP for each of its addresses from every interface). A host
/// without a MAC of its own conflicts only among those it listed (review of
/// 2026-12-07: its missing MAC was counted as an empty one, "answered from
/// 2 MACs: , 00:1b:21:00:32:32").
pub fn conflicting_macs(s: &Sighting, index: &RegisterIndex) -> Option<Vec<String>> {
    if s.conflicting_macs.is_empty() {
        return None;
    }
    let mut macs: Vec<String> = Vec::new();
    for m in s.mac.iter().chain(&s.conflicting_macs) {
        if !macs.contains(m) {
            macs.push(m.clone());
        }
    }
    if macs.len() < 2 {
        return None;
    }
    let owners: Vec<Option<&str>> = macs.iter().map(|m| index.sole_owner_of_mac(m)).collect();
    let one_asset = owners[0].is_some() && owners.iter().all(|o| *o == owners[0]);
    (!one_asset).then_some(macs)
}

struct Devices<'w> {
    records: HashMap<String, DeviceRecord>,
    unknown: HashMap<String, Finding>,
    settings: &'w Settings,
}

impl Devices<'_> {
    /// Count a batch's sighting of an unregistered device (once per batch).
    fn count(&mut self, s: &Sighting) -> DeviceRecord {
        let key = s.device_key();
        let d = self.records.entry(key.clone()).or_insert_with(|| DeviceRecord {
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
        d.enriched |= s.enrichment_arrived();
        d.clone()
    }

    /// Raise (or add to) the unknown-asset finding of `s`'s device when its debounce is met.
    fn consider(&mut self, s: &Sighting) {
        let key = s.device_key();
        let Some(d) = self.records.get(&key) else { return };
        let st = self.settings;
        let debounced = d.sightings >= st.unknown_after_sightings
            || (st.unknown_after_ms > 0 && d.last_ms - d.first_ms >= st.unknown_after_ms);
        let waited_long = d.sightings >= 3 * st.unknown_after_sightings;
        if !(debounced && (d.enriched || waited_long)) {
            return;
        }
        let f = self.unknown.entry(key.clone()).or_insert_with(|| {
            let vendor_note = (s.mac.is_some() && !s.mac_random && s.vendor.is_none())
                .then(|| "the MAC's block is not in the IEEE registry the agent carries (a new block?)".to_string());
            let note = (!d.enriched)
                .then(|| "the agent's sweeps do not look up names and services (enrichment off)".to_string());
            let evidence = Evidence::UnknownAsset(UnknownDevice {
                device_key: key.clone(),
                sightings: d.sightings,
                first_seen_ms: d.first_ms,
                hosts: Vec::new(),
                vendor_note,
                note,
            });
            let mut f = with_sighting(
                finding(AlertKind::UnknownAsset, format!("device:{key}"), Severity::Medium, String::new(), evidence),
                s,
            );
            f.first_seen_ms = d.first_ms;
            f
        });
        if s.last_ms >= f.last_seen_ms {
            f.ip = Some(s.ip.clone());
            f.mac = s.mac.clone();
            f.vendor = s.vendor.clone();
            f.segment = Some(s.segment.clone());
            f.agent = Some(s.agent.clone());
            f.last_seen_ms = s.last_ms;
        }
        if let Evidence::UnknownAsset(u) = &mut f.evidence
            && !u.hosts.iter().any(|h| h.ip == s.ip)
        {
            u.hosts.push(describe(s));
        }
    }
}

fn conflict_finding(s: &Sighting) -> Finding {
    with_sighting(
        finding(
            AlertKind::IdentityConflict,
            format!("ip:{}", s.ip),
            Severity::High,
            String::new(),
            Evidence::IdentityConflict(Conflict::Address(AddressConflict {
                ip: s.ip.clone(),
                seen: describe(s),
                macs: Vec::new(),
                ambiguous_candidates: Vec::new(),
            })),
        ),
        s,
    )
}

/// Run the rules.
pub fn run(mut w: World<'_>) -> Plan {
    let now = w.now_ms;
    let mut plan = Plan { now_ms: now, alerted: w.alerted.clone(), ..Default::default() };
    let mut dev = Devices { records: w.devices.clone(), unknown: HashMap::new(), settings: w.settings };
    let mut conflicts: HashMap<String, Finding> = HashMap::new();
    fn add_conflict(conflicts: &mut HashMap<String, Finding>, s: &Sighting, macs: Vec<String>) {
        let f = conflicts.entry(s.ip.clone()).or_insert_with(|| conflict_finding(s));
        f.first_seen_ms = f.first_seen_ms.min(s.first_ms);
        f.last_seen_ms = f.last_seen_ms.max(s.last_ms);
        f.summary = format!("{} answered from {} MACs in one sweep: {}", s.ip, macs.len(), macs.join(", "));
        if let Evidence::IdentityConflict(Conflict::Address(c)) = &mut f.evidence {
            c.macs = macs;
        }
    }

    // The batch's own sightings are events, whatever their age.
    let latest_ids: HashMap<&str, usize> = w.sightings.iter().enumerate().map(|(i, s)| (s.ip.as_str(), i)).collect();
    let identities = super::parallel_map(&w.sightings, |s| w.index.identify(s));
    let mut history: foldhash::HashMap<String, Vec<(Sighting, super::identity::Match)>> = Default::default();
    for s in &w.batch {
        let id = match latest_ids.get(s.ip.as_str()) {
            Some(i) if w.sightings[*i].batch == s.batch => identities[*i].clone(),
            _ => w.index.identify(s),
        };
        match id {
            Identity::Unknown => {
                plan.devices.push(dev.count(s));
                dev.consider(s);
            }
            Identity::Matched(m) => history.entry(m.tag.clone()).or_default().push((s.clone(), m)),
            Identity::Ambiguous { .. } => {}
        }
        if let Some(macs) = conflicting_macs(s, w.index) {
            add_conflict(&mut conflicts, s, macs);
        }
    }

    let mut by_tag: foldhash::HashMap<&str, Vec<(&Sighting, &super::identity::Match)>> = Default::default();
    let mut unknown_present: Vec<&Sighting> = Vec::new();
    let eol_alerted = plan.kind_alerted(AlertKind::EndOfLifeSoftware);
    let mut serving: Vec<&Sighting> = Vec::new();
    // The asset each of `serving` matched, if any.
    let mut serving_as: Vec<Option<&str>> = Vec::new();
    // A present host whose latest sweep fetched no certificates (enrichment off).
    let mut unfetched = false;
    for (s, id) in w.sightings.iter().zip(&identities) {
        let p = presence(s, w.sweeps, w.settings, now);
        let device = format!("device:{}", s.device_key());
        let ip_subject = format!("ip:{}", s.ip);
        let gone = |plan: &mut Plan, kind: AlertKind, subject: String| {
            let reason =
                format!("not seen in {} complete sweeps since {}", p.misses.count, super::assets::fmt_ms(s.last_ms));
            plan.clear(kind, subject, ClearCause::Absent, reason, p.misses.last_finish_ms.max(s.last_ms));
        };
        if p.present && !s.tls.is_empty() {
            serving.push(s);
            serving_as.push(match id {
                Identity::Matched(m) => Some(m.tag.as_str()),
                _ => None,
            });
        }
        unfetched |= p.present && !s.enriched;
        match id {
            Identity::Matched(m) => {
                if !device.starts_with("device:random-mac@") {
                    let reason = format!("now matches asset {} ({})", m.tag, m.rules.join(", "));
                    if plan.wants_clear(AlertKind::EndOfLifeSoftware, &device) {
                        let moved = format!("{reason}: the asset's alert takes over");
                        plan.clear(
                            AlertKind::EndOfLifeSoftware,
                            device.clone(),
                            ClearCause::Register,
                            moved,
                            s.last_ms,
                        );
                    }
                    plan.clear(AlertKind::UnknownAsset, device, ClearCause::Register, reason, s.last_ms);
                }
                if p.present {
                    by_tag.entry(m.tag.as_str()).or_default().push((s, m));
                }
            }
            Identity::Ambiguous { candidates } if p.present => {
                let f = conflicts.entry(s.ip.clone()).or_insert_with(|| conflict_finding(s));
                if let Evidence::IdentityConflict(Conflict::Address(c)) = &mut f.evidence {
                    c.ambiguous_candidates.clone_from(candidates);
                }
                f.summary = format!("{} fits {} register assets equally; decide which it is", s.ip, candidates.len());
            }
            Identity::Unknown if p.present => {
                // Only what can raise or mark an end-of-life alert is judged:
                // most devices show no banner (a 100,000-host sweep of them
                // must not pay for a device key each).
                if !s.software.is_empty() || (s.enriched && eol_alerted) {
                    unknown_present.push(s);
                }
                if !dev.records.contains_key(&s.device_key()) {
                    // Seen before its batch was reconciled (a restart, a failed run): start counting now.
                    plan.devices.push(dev.count(s));
                }
                dev.consider(s);
            }
            Identity::Unknown => gone(&mut plan, AlertKind::UnknownAsset, device),
            Identity::Ambiguous { .. } => {}
        }
        match conflicting_macs(s, w.index) {
            Some(macs) if p.present => add_conflict(&mut conflicts, s, macs),
            Some(_) => gone(&mut plan, AlertKind::IdentityConflict, ip_subject),
            None if !s.conflicting_macs.is_empty() && plan.wants_clear(AlertKind::IdentityConflict, &ip_subject) => {
                // Several MACs still answer, but the register now ties them
                // all to one asset (a multi-homed host recorded whole): the
                // condition cannot hold, whatever a person decided.
                let tag = s.mac.as_deref().and_then(|m| w.index.sole_owner_of_mac(m)).unwrap_or("?");
                let reason = format!("the register now records every MAC answering at {} on asset {tag}", s.ip);
                plan.clear(AlertKind::IdentityConflict, ip_subject, ClearCause::Register, reason, now);
            }
            None if !matches!(id, Identity::Ambiguous { .. }) || !p.present => {
                let reason = "one MAC (or one asset's MACs) answers for the address, and the match is unambiguous";
                plan.clear(AlertKind::IdentityConflict, ip_subject, ClearCause::Absent, reason.into(), s.last_ms);
            }
            None => {}
        }
    }
    for (_, mut f) in dev.unknown {
        f.summary = format!("unregistered device {} at {}", describe_short(&f), f.ip.clone().unwrap_or_default());
        plan.findings.push(f);
    }
    plan.findings.extend(conflicts.into_values());
    super::end_of_life::for_devices(&w, unknown_present.into_iter(), &mut plan);
    super::certificates::judge(&w, &serving, unfetched, &mut plan);
    super::credentials::judge(&w, &serving, &serving_as, unfetched, &mut plan);

    let assets = std::mem::replace(&mut w.assets, Box::new(std::iter::empty()));
    // Licences are judged once entitlements are kept (an installation that
    // does not track licences hears nothing, and pays nothing, for it).
    let mut licensing = (w.full && !w.entitlements.is_empty()).then(|| super::licences::Licensing::new(&w));
    let mut coverage = super::sources::Coverage::new(&w);
    // The assets come by tag, the order the index was built in.
    let mut cursor = super::identity::TagCursor::default();
    for asset in assets {
        let tag = asset.tag.as_str();
        // Not in the index: it entered the register after the index was built, the next run judges it.
        let Some(created_ms) = w.index.created_ms_in_order(tag, &mut cursor) else { continue };
        let seen = by_tag.get(tag).map_or(&[][..], Vec::as_slice);
        let past: Vec<(&Sighting, &super::identity::Match)> =
            history.get(tag).into_iter().flatten().map(|(s, m)| (s, m)).collect();
        let mut state = w.states.get(tag).cloned().unwrap_or_default();
        let before = state.clone();
        super::assets::evaluate(&w, (&asset, created_ms), seen, &past, &mut state, &mut plan);
        if let Some(l) = &mut licensing
            && (!seen.is_empty() || !asset.licences.is_empty())
        {
            let present: Vec<&Sighting> = seen.iter().map(|(s, _)| *s).collect();
            l.collect(&asset, &present, &state);
        }
        if let Some(c) = &mut coverage {
            c.collect(&w, &asset, seen, &mut plan);
        }
        if state != before {
            plan.states.push((tag.to_string(), state));
        }
    }
    if let Some(l) = licensing {
        l.judge(&w, &mut plan);
    }
    if let Some(c) = coverage {
        c.judge(&w, &mut plan);
    }
    agents(&w, &mut plan);
    for (kind, subject) in &w.live_subjects {
        if let Some(tag) = subject.strip_prefix("asset:")
            && !w.index.contains(tag)
        {
            let reason = format!("asset {tag} was deleted from the register");
            plan.clear(*kind, subject.clone(), ClearCause::Register, reason, now);
        }
    }
    drop(by_tag);
    plan.matches = w.sightings.iter().map(|s| s.ip.clone()).zip(identities).collect();
    plan
}

/// `agent-silent`: one alert per agent that stopped delivering complete sweeps.
fn agents(w: &World<'_>, plan: &mut Plan) {
    let cadences: Vec<AgentCadence> = w.sweeps.cadences();
    for name in &w.agents {
        let subject = format!("agent:{name}");
        plan.agents.push(name.clone());
        if w.revoked.contains(name) {
            plan.clear(AlertKind::AgentSilent, subject, ClearCause::Register, "the agent was revoked".into(), w.now_ms);
            continue;
        }
        let Some(c) = cadences.iter().find(|c| &c.agent == name) else { continue };
        let never = c.last_complete_ms == i64::MIN;
        let last_complete = if never { "never".to_string() } else { super::assets::fmt_ms(c.last_complete_ms) };
        let since = if never { c.last_delivered_ms } else { c.last_complete_ms };
        let silent = c.silent(w.now_ms);
        if silent && !w.full {
            continue;
        }
        if !silent {
            let reason = format!("complete sweeps resumed (latest finished {last_complete})");
            plan.clear(AlertKind::AgentSilent, subject, ClearCause::Resolved, reason, since);
            continue;
        }
        // Delivering only partial sweeps is silence too: nothing they miss counts.
        // (No time here: the summary stays the same while partial sweeps go on arriving.)
        let partial = if c.last_delivered_ms > c.last_complete_ms { "; its sweeps since were partial" } else { "" };
        let segments: Vec<String> = c
            .segments
            .iter()
            .map(|(n, t)| format!("{n} ({})", t.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")))
            .collect();
        let every = c.interval_ms.map(super::assets::fmt_duration).unwrap_or_else(|| "?".into());
        let mut f = finding(
            AlertKind::AgentSilent,
            subject,
            Severity::High,
            format!(
                "agent {name} delivered no complete sweep since {last_complete} (expected every {every}{partial}); \
                 nothing on {} is reported missing while it is silent",
                segments.join(", ")
            ),
            Evidence::AgentSilent(Silence {
                agent: name.clone(),
                segments,
                last_sweep_ms: c.last_delivered_ms,
                last_complete_sweep_ms: (!never).then_some(c.last_complete_ms),
                due_ms: c.due_ms,
                interval_ms: c.interval_ms,
            }),
        );
        f.agent = Some(name.clone());
        f.first_seen_ms = since;
        f.last_seen_ms = since;
        plan.findings.push(f);
    }
}

/// A sighting as evidence: what was seen, not when (the alert's first and
/// last seen carry the times), so the evidence of a device seen the same
/// way sweep after sweep does not change — and its alert is not rewritten.
pub fn describe(s: &Sighting) -> HostSeen {
    HostSeen {
        ip: s.ip.clone(),
        mac: s.mac.clone(),
        mac_randomised: s.mac_random,
        vendor: s.vendor.clone(),
        names: s.names.iter().map(|(n, src)| format!("{n} ({src})")).collect(),
        open_ports: s.open.clone(),
        os: s.os.clone(),
        segment: s.segment.clone(),
        agent: s.agent.clone(),
        matched_by: None,
        confidence: None,
    }
}

fn describe_short(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &f.mac {
        parts.push(m.clone());
    }
    if let Some(v) = &f.vendor {
        parts.push(format!("({v})"));
    }
    let names: Vec<String> =
        f.evidence.hosts().iter().flat_map(|h| h.names.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
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

/// The first millisecond of a day (UTC).
pub fn day_start_ms(d: Day) -> i64 {
    d.0.midnight().assume_utc().unix_timestamp() * 1000
}

/// When the asset's lifecycle stage began (unix ms: the start of its
/// `lifecycle_since` day; the beginning of time when undated). Only a
/// sighting from then on says it answers in that stage — the rule for
/// should-be-retired and pending-in-use, and for whois.
pub fn lifecycle_change_ms(a: &Asset) -> i64 {
    a.lifecycle_since.map_or(i64::MIN, day_start_ms)
}
