//! The coverage-source alerts ([`crate::sources`]): `not-in-source`,
//! `retired-still-enrolled`, `source-unknown` and `source-stale`.
//!
//! Judged on full runs only, and only once a source is defined: whether a
//! source lists a device is a question about its whole list, so each asset
//! is matched as it is evaluated ([`Coverage::collect`]) and the records no
//! asset matched are known after the last one ([`Coverage::judge`]).
//!
//! | alert | raised when | severity | resolves when |
//! |---|---|---|---|
//! | `not-in-source` | an asset in service of an expected type, on the network now, matches no record of a loaded source | medium (one step more for a high or critical asset) | a load lists it, it leaves service or the network, or the type is no longer expected |
//! | `retired-still-enrolled` | a decommissioned or disposed asset matches a record | high | a load no longer lists it, or it is back in service |
//! | `source-unknown` | a record matches no asset | medium | a load no longer lists it, or an asset now matches it |
//! | `source-stale` | never loaded, or not within its maximum age | medium | a load |
//!
//! A source never loaded says nothing about assets (an empty list would
//! make every endpoint "not in EDR"), only that it is stale.

use std::collections::{HashMap, HashSet};

use super::assets::{Seen, asset_finding, asset_ref, bump};
use super::rules::{Plan, World, finding};
use crate::alerts::evidence::Evidence;
use crate::alerts::evidence::sources::{
    NotInSources, SourceListing, SourceRef, StaleSource, StillEnrolled, UnknownToRegister,
};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};
use crate::register::{Asset, Lifecycle};
use crate::sources::Source;
use crate::sources::matching::{DeviceKeys, SourceIndex};

/// The kinds judged here.
pub const KINDS: [AlertKind; 4] =
    [AlertKind::NotInSource, AlertKind::RetiredStillEnrolled, AlertKind::SourceUnknown, AlertKind::SourceStale];

/// The subject of a `source-unknown` alert: the source and the record's key.
pub fn unknown_subject(s: &Source, r: &crate::sources::SourceRecord) -> String {
    format!("source:{}:{}={}", s.name(), s.def.key.as_str(), r.key_value(s.def.key))
}

fn source_ref(s: &Source) -> SourceRef {
    SourceRef { source: s.name().to_string(), loaded_ms: s.loaded_ms, key: s.def.key }
}

/// What a full run gathers for the coverage-source verdicts.
pub struct Coverage<'a> {
    sources: Vec<(&'a Source, SourceIndex, Vec<bool>)>,
}

impl<'a> Coverage<'a> {
    /// For a full run over `sources` — `None` when there is nothing to raise
    /// or clear: no source defined and no live alert of these kinds (an
    /// installation without sources pays nothing for them).
    pub fn new(w: &World<'a>) -> Option<Self> {
        let alerted = w.live_subjects.iter().any(|(k, _)| KINDS.contains(k));
        (w.full && (!w.sources.is_empty() || alerted)).then(|| Coverage {
            sources: w
                .sources
                .iter()
                .map(|s| (s, SourceIndex::new(&s.records, s.def.key), vec![false; s.records.len()]))
                .collect(),
        })
    }

    /// Match asset `a` (`seen`: where it answers now) against every loaded
    /// source, and raise or clear its `not-in-source` and `retired-still-enrolled`.
    pub fn collect(&mut self, w: &World<'_>, a: &Asset, seen: &Seen<'_>, plan: &mut Plan) {
        let mut keys = DeviceKeys {
            macs: a.macs.iter().map(ToString::to_string).collect(),
            names: a.hostnames.clone(),
            ips: a.ips.iter().map(ToString::to_string).collect(),
        };
        for (s, _) in seen {
            keys.macs.extend(s.mac.clone());
            keys.names.extend(s.names.iter().map(|(n, _)| n.trim_end_matches('.').to_ascii_lowercase()));
            keys.ips.push(s.ip.clone());
        }
        let mut missing_from = Vec::new();
        let mut listed = Vec::new();
        for (source, index, matched) in &mut self.sources {
            if source.loaded_ms.is_none() {
                continue;
            }
            let found = index.find(&keys);
            for (i, _) in &found {
                matched[*i] = true;
            }
            let expected = source.def.expected_types.contains(&a.asset_type);
            if a.lifecycle.in_service() && expected && !seen.is_empty() && found.is_empty() {
                missing_from.push(source_ref(source));
            }
            if a.lifecycle.retired() {
                listed.extend(found.into_iter().map(|(i, why)| SourceListing {
                    source: source_ref(source),
                    record: source.records[i].clone(),
                    matched_by: why,
                }));
            }
        }
        let subject = format!("asset:{}", a.tag);
        let clear = |plan: &mut Plan, kind: AlertKind, reason: String| {
            if plan.wants_clear(kind, &subject) {
                plan.clear(kind, subject.clone(), ClearCause::Register, reason, w.now_ms);
            }
        };
        if missing_from.is_empty() {
            clear(plan, AlertKind::NotInSource, format!("{} is listed by every source expected to list it", a.tag));
        } else {
            let names: Vec<&str> = missing_from.iter().map(|s| s.source.as_str()).collect();
            let summary = format!(
                "{} ({}, {}) answers on the network but is not in {}'s list",
                a.tag,
                a.name,
                a.asset_type,
                names.join(" nor ")
            );
            let sev = bump(Severity::Medium, a.criticality);
            let sources = missing_from;
            let ev = |asset, seen| Evidence::NotInSource(NotInSources { asset, sources, seen });
            plan.findings.push(asset_finding(AlertKind::NotInSource, a, sev, summary, ev, seen));
        }
        if listed.is_empty() {
            clear(plan, AlertKind::RetiredStillEnrolled, format!("{} is in no source's list", a.tag));
        } else {
            let mut names: Vec<&str> = listed.iter().map(|l| l.source.source.as_str()).collect();
            names.dedup();
            let summary = format!("{} ({}) is {} but still listed by {}", a.tag, a.name, a.lifecycle, names.join(", "));
            let sev = if a.lifecycle == Lifecycle::Disposed { Severity::High } else { Severity::Medium };
            let ev = Evidence::RetiredStillEnrolled(StillEnrolled { asset: asset_ref(a), listed });
            let mut f = finding(AlertKind::RetiredStillEnrolled, subject.clone(), sev, summary, ev);
            f.tag = Some(a.tag.clone());
            plan.findings.push(f);
        }
    }

    /// Raise `source-unknown` for every record no asset matched and
    /// `source-stale` for every stale source; clear the rest.
    pub fn judge(self, w: &World<'_>, plan: &mut Plan) {
        let mut raised: HashSet<(AlertKind, String)> = HashSet::new();
        for (source, _, matched) in &self.sources {
            let name = source.name();
            if source.stale(w.now_ms) {
                let when = match source.loaded_ms {
                    Some(l) => format!("last loaded {}", super::assets::fmt_ms(l)),
                    None => "never loaded".to_string(),
                };
                let summary = format!(
                    "coverage source {name} is stale: {when}, older than its maximum age of {} days",
                    source.def.max_age_days
                );
                let ev = Evidence::SourceStale(StaleSource {
                    source: source_ref(source),
                    max_age_days: source.def.max_age_days,
                    records: source.records.len(),
                });
                let subject = format!("source:{name}");
                raised.insert((AlertKind::SourceStale, subject.clone()));
                plan.findings.push(finding(AlertKind::SourceStale, subject, Severity::Medium, summary, ev));
            }
            if source.loaded_ms.is_none() {
                continue;
            }
            for (r, _) in source.records.iter().zip(matched).filter(|(_, m)| !**m) {
                let subject = unknown_subject(source, r);
                if !raised.insert((AlertKind::SourceUnknown, subject.clone())) {
                    continue;
                }
                let summary = format!("{name} lists a device the register does not know: {}", r.describe());
                let ev = Evidence::SourceUnknown(UnknownToRegister { source: source_ref(source), record: r.clone() });
                let mut f = finding(AlertKind::SourceUnknown, subject, Severity::Medium, summary, ev);
                f.ip = (!r.ip.is_empty()).then(|| r.ip.clone());
                f.mac = r.macs.first().cloned();
                plan.findings.push(f);
            }
        }
        let reasons: HashMap<AlertKind, &str> = [
            (AlertKind::SourceStale, "the source was loaded within its maximum age (or is no longer defined)"),
            (AlertKind::SourceUnknown, "the source no longer lists it, or an asset matches it now"),
        ]
        .into();
        for (kind, subject) in &w.live_subjects {
            let Some(reason) = reasons.get(kind) else { continue };
            if !raised.contains(&(*kind, subject.clone())) {
                plan.clear(*kind, subject.clone(), ClearCause::Register, (*reason).to_string(), w.now_ms);
            }
        }
    }
}
