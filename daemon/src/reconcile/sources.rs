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
//! make every endpoint "not in EDR"), only that it is stale. A record
//! matched by a name or an address ([`crate::sources::matching::Found`]'s
//! `strong` is false) to two assets is neither's: their verdicts wait for
//! the whole register ([`Coverage::judge`]). At most
//! [`MAX_UNKNOWN_PER_SOURCE`] `source-unknown` alerts per source and run.

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

/// At most this many `source-unknown` alerts per source and run: a load of
/// a list nobody reconciled yet must not be a notification storm. The rest
/// are counted in the log; they come up as the first are dealt with.
pub const MAX_UNKNOWN_PER_SOURCE: usize = 500;

/// An asset whose verdict waits for the whole list: missing from some
/// sources for sure, or found in some only by a name or an address that
/// another asset may share.
struct Pending {
    finding: crate::alerts::Finding,
    tag: String,
    /// Sources it is surely not in.
    missing: Vec<SourceRef>,
    /// Sources (by position) it was found in only weakly, with the records.
    weak: Vec<(usize, Vec<usize>)>,
}

/// A retired asset some source lists, each listing with whether it was
/// found strongly (by MAC).
struct Listed {
    finding: crate::alerts::Finding,
    tag: String,
    /// (source position, record position, the listing, found by MAC).
    listings: Vec<(usize, usize, SourceListing, bool)>,
}

/// One source in a run: its index, which records an asset matched, and how
/// many assets matched each weakly.
struct InRun<'a> {
    source: &'a Source,
    index: SourceIndex,
    matched: Vec<bool>,
    /// Assets that matched each record, by any rule.
    matchers: Vec<u32>,
}

/// What a full run gathers for the coverage-source verdicts.
pub struct Coverage<'a> {
    sources: Vec<InRun<'a>>,
    pending: Vec<Pending>,
    listed: Vec<Listed>,
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
                .map(|s| InRun {
                    source: s,
                    index: SourceIndex::new(s.name(), &s.records, s.def.key),
                    matched: vec![false; s.records.len()],
                    matchers: vec![0; s.records.len()],
                })
                .collect(),
            pending: Vec::new(),
            listed: Vec::new(),
        })
    }

    /// Match asset `a` (`seen`: where it answers now) against every loaded
    /// source; its verdicts are made now when they cannot depend on other
    /// assets, else in [`Coverage::judge`].
    pub fn collect(&mut self, w: &World<'_>, a: &Asset, seen: &Seen<'_>, plan: &mut Plan) {
        let mut keys = DeviceKeys::of(a);
        for (s, _) in seen {
            keys.macs.extend(s.mac.clone());
            keys.names.extend(s.names.iter().map(|(n, _)| n.trim_end_matches('.').to_ascii_lowercase()));
            keys.ips.push(s.ip.clone());
        }
        let expected_here = a.lifecycle.in_service() && !seen.is_empty();
        let mut missing = Vec::new();
        let mut weak = Vec::new();
        let mut listings = Vec::new();
        for (i, run) in self.sources.iter_mut().enumerate() {
            if run.source.loaded_ms.is_none() {
                continue;
            }
            let found = run.index.find(&keys);
            for f in &found {
                run.matched[f.record] = true;
                run.matchers[f.record] += 1;
            }
            if expected_here && run.source.def.expected_types.contains(&a.asset_type) {
                if found.is_empty() {
                    missing.push(source_ref(run.source));
                } else if !found.iter().any(|f| f.strong) {
                    weak.push((i, found.iter().map(|f| f.record).collect()));
                }
            }
            if a.lifecycle.retired() {
                listings.extend(found.into_iter().map(|f| {
                    let l = SourceListing {
                        source: source_ref(run.source),
                        record: run.source.records[f.record].clone(),
                        matched_by: f.by,
                    };
                    (i, f.record, l, f.strong)
                }));
            }
        }
        let subject = format!("asset:{}", a.tag);
        if missing.is_empty() && weak.is_empty() {
            if plan.wants_clear(AlertKind::NotInSource, &subject) {
                let reason = format!("{} is listed by every source expected to list it", a.tag);
                plan.clear(AlertKind::NotInSource, subject.clone(), ClearCause::Register, reason, w.now_ms);
            }
        } else {
            let sev = bump(Severity::Medium, a.criticality);
            let ev = |asset, seen| Evidence::NotInSource(NotInSources { asset, sources: Vec::new(), seen });
            let finding = asset_finding(AlertKind::NotInSource, a, sev, String::new(), ev, seen);
            self.pending.push(Pending { finding, tag: a.tag.clone(), missing, weak });
        }
        if listings.is_empty() {
            if plan.wants_clear(AlertKind::RetiredStillEnrolled, &subject) {
                let reason = format!("{} is in no source's list", a.tag);
                plan.clear(AlertKind::RetiredStillEnrolled, subject, ClearCause::Register, reason, w.now_ms);
            }
        } else {
            let sev = if a.lifecycle == Lifecycle::Disposed { Severity::High } else { Severity::Medium };
            let summary = format!("{} ({}) is {} but still listed by", a.tag, a.name, a.lifecycle);
            let ev = Evidence::RetiredStillEnrolled(StillEnrolled { asset: asset_ref(a), listed: Vec::new() });
            let mut finding = finding(AlertKind::RetiredStillEnrolled, subject, sev, summary, ev);
            finding.tag = Some(a.tag.clone());
            self.listed.push(Listed { finding, tag: a.tag.clone(), listings });
        }
    }

    /// Whether record `record` of source `src` was matched by more than one
    /// asset: a weak match to it (a shared serial, name or address) is then
    /// not this asset's — the record may be the other's, by its MAC or id.
    fn shared(&self, src: usize, record: usize) -> bool {
        self.sources.get(src).is_some_and(|r| r.matchers[record] > 1)
    }

    /// Make the verdicts that waited for the whole list, raise
    /// `source-unknown` for every record no asset matched and
    /// `source-stale` for every stale source; clear the rest.
    pub fn judge(mut self, w: &World<'_>, plan: &mut Plan) {
        for p in std::mem::take(&mut self.pending) {
            let mut sources = p.missing;
            for (src, records) in &p.weak {
                if records.iter().all(|r| self.shared(*src, *r)) {
                    sources.push(source_ref(self.sources[*src].source));
                }
            }
            let subject = format!("asset:{}", p.tag);
            if sources.is_empty() {
                if plan.wants_clear(AlertKind::NotInSource, &subject) {
                    let reason = format!("{} is listed by every source expected to list it", p.tag);
                    plan.clear(AlertKind::NotInSource, subject, ClearCause::Register, reason, w.now_ms);
                }
                continue;
            }
            let names: Vec<&str> = sources.iter().map(|s| s.source.as_str()).collect();
            let mut f = p.finding;
            f.summary = format!("{} answers on the network but is not in the list of {}", p.tag, names.join(", "));
            if let Evidence::NotInSource(e) = &mut f.evidence {
                e.sources = sources;
            }
            plan.findings.push(f);
        }
        for l in std::mem::take(&mut self.listed) {
            let kept: Vec<SourceListing> = l
                .listings
                .into_iter()
                .filter(|(src, record, _, strong)| *strong || !self.shared(*src, *record))
                .map(|(_, _, listing, _)| listing)
                .collect();
            let subject = format!("asset:{}", l.tag);
            if kept.is_empty() {
                if plan.wants_clear(AlertKind::RetiredStillEnrolled, &subject) {
                    let reason = format!("{} is in no source's list but by names other assets share", l.tag);
                    plan.clear(AlertKind::RetiredStillEnrolled, subject, ClearCause::Register, reason, w.now_ms);
                }
                continue;
            }
            let mut names: Vec<&str> = kept.iter().map(|k| k.source.source.as_str()).collect();
            names.dedup();
            let mut f = l.finding;
            f.summary = format!("{} {}", f.summary, names.join(", "));
            if let Evidence::RetiredStillEnrolled(e) = &mut f.evidence {
                e.listed = kept;
            }
            plan.findings.push(f);
        }
        let mut raised: HashSet<(AlertKind, String)> = HashSet::new();
        for run in &self.sources {
            let source = run.source;
            let name = source.name();
            if source.stale(w.now_ms) {
                let summary = match source.loaded_ms {
                    Some(l) => format!(
                        "coverage source {name} is stale: last loaded {}, longer ago than its maximum age of {} days",
                        super::assets::fmt_ms(l),
                        source.def.max_age_days
                    ),
                    None => format!("coverage source {name} was never loaded"),
                };
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
            let mut unknown = 0usize;
            for (r, _) in source.records.iter().zip(&run.matched).filter(|(_, m)| !**m) {
                let subject = unknown_subject(source, r);
                if raised.contains(&(AlertKind::SourceUnknown, subject.clone())) {
                    continue;
                }
                unknown += 1;
                if unknown > MAX_UNKNOWN_PER_SOURCE {
                    continue;
                }
                raised.insert((AlertKind::SourceUnknown, subject.clone()));
                let summary = format!("{name} lists a device the register does not know: {}", r.describe());
                let ev = Evidence::SourceUnknown(UnknownToRegister { source: source_ref(source), record: r.clone() });
                let mut f = finding(AlertKind::SourceUnknown, subject, Severity::Medium, summary, ev);
                f.ip = (!r.ip.is_empty()).then(|| r.ip.clone());
                f.mac = r.macs.first().cloned();
                plan.findings.push(f);
            }
            if unknown > MAX_UNKNOWN_PER_SOURCE {
                tracing::warn!(
                    source = name,
                    unknown,
                    raised = MAX_UNKNOWN_PER_SOURCE,
                    "a coverage source lists more unknown devices than one run raises alerts for"
                );
            }
        }
        // Held back by the cap: not cleared either (they are still unknown).
        let capped: HashSet<String> = self
            .sources
            .iter()
            .filter(|r| r.source.loaded_ms.is_some())
            .flat_map(|r| {
                r.source
                    .records
                    .iter()
                    .zip(&r.matched)
                    .filter(|(_, m)| !**m)
                    .map(|(rec, _)| unknown_subject(r.source, rec))
            })
            .collect();
        let reasons: HashMap<AlertKind, &str> = [
            (AlertKind::SourceStale, "the source was loaded within its maximum age (or is no longer defined)"),
            (AlertKind::SourceUnknown, "the source no longer lists it, or an asset matches it now"),
        ]
        .into();
        for (kind, subject) in &w.live_subjects {
            let Some(reason) = reasons.get(kind) else { continue };
            let held = *kind == AlertKind::SourceUnknown && capped.contains(subject);
            if !held && !raised.contains(&(*kind, subject.clone())) {
                plan.clear(*kind, subject.clone(), ClearCause::Register, (*reason).to_string(), w.now_ms);
            }
        }
    }
}
