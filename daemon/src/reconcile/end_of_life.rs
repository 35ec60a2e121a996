//! `end-of-life-software`: a host answers with software past its end of
//! support, judged from the banners of its latest sightings against the
//! end-of-life table ([`crate::eol`]) on the run's day.
//!
//! One alert per subject: `asset:TAG` for a registered asset (all its
//! addresses together), `device:KEY` for an unregistered device (resolved
//! when the device is registered: the asset's alert takes over). It stays
//! open for a person: a sweep that looked up services and saw the subject
//! without any such release marks it absent since then (upgraded, or only a
//! banner not grabbed this time, or a port not probed — which a sweep
//! cannot tell apart), and a person closes it once the upgrade is
//! confirmed. A sweep that did not look up services says nothing.

use std::collections::BTreeMap;

use super::assets::bump;
use super::identity::Match;
use super::rules::{Plan, World, day_of, describe, finding, with_sightings};
use super::sighting::Sighting;
use crate::alerts::evidence::{EndOfLife, Evidence, HostSeen};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};
use crate::eol::EolSoftware;
use crate::register::{Asset, Criticality};

const KIND: AlertKind = AlertKind::EndOfLifeSoftware;
const YEAR_MS: i64 = 365 * 86_400_000;

/// What the subject's sightings show.
struct Judged<'s> {
    software: Vec<EolSoftware>,
    seen: Vec<&'s Sighting>,
    /// At least one sighting looked up services (so an empty list means upgraded).
    enriched: bool,
}

fn judge<'s>(w: &World<'_>, sightings: impl Iterator<Item = &'s Sighting>) -> Judged<'s> {
    let today = day_of(w.now_ms);
    let mut j = Judged { software: Vec::new(), seen: Vec::new(), enriched: false };
    for s in sightings {
        j.enriched |= s.enriched;
        let hits = w.settings.end_of_life.judge(&s.software, today);
        if !hits.is_empty() {
            j.seen.push(s);
        }
        for h in hits {
            if !j.software.iter().any(|o| o.release == h.release) {
                j.software.push(h);
            }
        }
    }
    j
}

fn summary(who: &str, software: &[EolSoftware]) -> String {
    let what: Vec<String> = software
        .iter()
        .map(|s| format!("{} (support ended {} per {}; port {}: {})", s.release, s.ended, s.source, s.port, s.banner))
        .collect();
    format!("{who} runs software past its end of support: {}", what.join("; "))
}

fn severity(w: &World<'_>, software: &[EolSoftware], criticality: Criticality) -> Severity {
    let oldest = software.iter().map(|s| super::rules::day_start_ms(s.ended)).min().unwrap_or(w.now_ms);
    let base = if w.now_ms - oldest > YEAR_MS { Severity::High } else { Severity::Medium };
    bump(base, criticality)
}

fn clear(w: &World<'_>, subject: String, j: &Judged<'_>, latest_ms: i64, plan: &mut Plan) {
    if j.enriched && plan.wants_clear(KIND, &subject) {
        let reason = "seen again with its services looked up: no release past its end of support".to_string();
        plan.clear(KIND, subject, ClearCause::Resolved, reason, latest_ms.max(0).min(w.now_ms));
    }
}

/// Judge asset `a` on the sightings that matched it now.
pub fn for_asset(w: &World<'_>, a: &Asset, seen: &[(&Sighting, &Match)], plan: &mut Plan) {
    if seen.iter().all(|(s, _)| s.software.is_empty()) && !plan.kind_alerted(KIND) {
        return;
    }
    let subject = format!("asset:{}", a.tag);
    let j = judge(w, seen.iter().map(|(s, _)| *s));
    if j.software.is_empty() {
        let latest = seen.iter().map(|(s, _)| s.last_ms).max().unwrap_or(w.now_ms);
        clear(w, subject, &j, latest, plan);
        return;
    }
    let hosts: Vec<HostSeen> = seen
        .iter()
        .filter(|(s, _)| j.seen.iter().any(|x| x.ip == s.ip))
        .map(|(s, m)| HostSeen { matched_by: Some(m.rules.clone()), confidence: Some(m.confidence), ..describe(s) })
        .collect();
    let mut f = finding(
        KIND,
        subject,
        severity(w, &j.software, a.criticality),
        summary(&format!("{} ({})", a.tag, a.name), &j.software),
        Evidence::EndOfLifeSoftware(EndOfLife {
            asset: Some(super::assets::asset_ref(a)),
            software: j.software.clone(),
            seen: hosts,
        }),
    );
    f.tag = Some(a.tag.clone());
    plan.findings.push(with_sightings(f, j.seen.iter().copied()));
}

/// Judge unregistered devices on their present sightings (several
/// addresses of one device key together).
pub fn for_devices<'s>(w: &World<'_>, sightings: impl Iterator<Item = &'s Sighting>, plan: &mut Plan) {
    let mut by_key: BTreeMap<String, Vec<&Sighting>> = BTreeMap::new();
    for s in sightings {
        by_key.entry(s.device_key()).or_default().push(s);
    }
    for (key, list) in by_key {
        let subject = format!("device:{key}");
        let j = judge(w, list.iter().copied());
        if j.software.is_empty() {
            let latest = list.iter().map(|s| s.last_ms).max().unwrap_or(w.now_ms);
            clear(w, subject, &j, latest, plan);
            continue;
        }
        let who = match list.first() {
            Some(s) => format!("unregistered device {} at {}", key, s.ip),
            None => format!("unregistered device {key}"),
        };
        let f = finding(
            KIND,
            subject,
            severity(w, &j.software, Criticality::Medium),
            summary(&who, &j.software),
            Evidence::EndOfLifeSoftware(EndOfLife {
                asset: None,
                software: j.software.clone(),
                seen: j.seen.iter().map(|s| describe(s)).collect(),
            }),
        );
        plan.findings.push(with_sightings(f, j.seen.iter().copied()));
    }
}
