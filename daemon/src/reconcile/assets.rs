//! The per-asset rules: should-be-retired, pending-in-use, missing,
//! new-service, coverage-gap, out-of-support (owner-departed in
//! [`super::owners`]) and the wrong-segment kind of identity-conflict — everything judged against one register entry and the
//! hosts that matched it (one asset however many MACs and addresses it
//! answers on).
//!
//! `seen` are the asset's hosts present now; `past` are this batch's
//! sightings of it, however late they arrived. Events (a retired asset
//! answering, its MAC on the wrong segment) are judged on both; the state
//! of now (missing, new ports, absent services) on `seen` only.

use std::collections::BTreeSet;

use super::identity::Match;
use super::rules::{AssetState, Plan, World, day_of, describe, finding};
use super::sighting::Sighting;
use crate::alerts::evidence::{
    AbsentService, AbsentServices, AssetRef, Conflict, Evidence, HostSeen, Lapsed, LapsedItem, LifecycleBreach,
    MissingAsset, NewPorts, WrongSegment,
};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Finding, Severity};
use crate::register::{Asset, Criticality, Lifecycle};

pub(super) type Seen<'a> = [(&'a Sighting, &'a Match)];

/// One step more urgent for a high or critical asset.
pub(super) fn bump(sev: Severity, c: Criticality) -> Severity {
    if matches!(c, Criticality::High | Criticality::Critical) { sev.raised() } else { sev }
}

/// The register entry as alerts carry it.
pub(super) fn asset_ref(a: &Asset) -> AssetRef {
    AssetRef {
        tag: a.tag.clone(),
        name: a.name.clone(),
        owner: a.owner.clone(),
        lifecycle: a.lifecycle,
        lifecycle_since: a.lifecycle_since,
        criticality: a.criticality,
    }
}

/// A finding about asset `a`; `evidence` is given the asset and the hosts it was `seen` on.
pub(super) fn asset_finding(
    kind: AlertKind,
    a: &Asset,
    severity: Severity,
    summary: String,
    evidence: impl FnOnce(AssetRef, Vec<HostSeen>) -> Evidence,
    seen: &Seen<'_>,
) -> Finding {
    let latest = seen.iter().max_by_key(|(s, _)| s.last_ms).map(|(s, _)| *s);
    let hosts = seen
        .iter()
        .map(|(s, m)| HostSeen { matched_by: Some(m.rules.clone()), confidence: Some(m.confidence), ..describe(s) })
        .collect();
    let evidence = evidence(asset_ref(a), hosts);
    let mut f = finding(kind, format!("asset:{}", a.tag), severity, summary, evidence);
    f.tag = Some(a.tag.clone());
    f.ip = latest.map(|s| s.ip.clone());
    f.mac = latest.and_then(|s| s.mac.clone());
    f.vendor = latest.and_then(|s| s.vendor.clone());
    f.segment = latest.map(|s| s.segment.clone());
    f.agent = latest.map(|s| s.agent.clone());
    f.first_seen_ms = seen.iter().map(|(s, _)| s.first_ms).min().unwrap_or(0);
    f.last_seen_ms = seen.iter().map(|(s, _)| s.last_ms).max().unwrap_or(0);
    f
}

fn where_seen(seen: &Seen<'_>) -> String {
    let ips: BTreeSet<&str> = seen.iter().map(|(s, _)| s.ip.as_str()).collect();
    ips.into_iter().collect::<Vec<_>>().join(", ")
}

/// Merge the sightings into the asset's state: first/last seen as min/max,
/// the baseline from the earliest sighting (a late batch older than the
/// baseline re-bases it, so a port opened while an agent was away is still news).
fn merge_state(state: &mut AssetState, all: &Seen<'_>) {
    if state.baseline.is_some() && state.baseline_ms.is_none() {
        // Written before baselines were dated: it came from the first sighting.
        state.baseline_ms = Some(state.first_seen_ms.unwrap_or(i64::MIN));
    }
    for (s, _) in all {
        state.first_seen_ms = Some(state.first_seen_ms.map_or(s.first_ms, |f| f.min(s.first_ms)));
        if state.last_seen_ms.is_none_or(|l| l < s.last_ms) {
            state.last_seen_ms = Some(s.last_ms);
            state.last_ip = Some(s.ip.clone());
            state.last_agent = Some(s.agent.clone());
        }
    }
    // The earliest sweep that saw it (every address it answered on in that sweep) sets the baseline.
    if let Some((first, _)) = all.iter().min_by_key(|(s, _)| (s.first_ms, s.batch.clone()))
        && state.baseline_ms.is_none_or(|b| first.first_ms < b)
    {
        let ports: BTreeSet<u16> =
            all.iter().filter(|(s, _)| s.batch == first.batch).flat_map(|(s, _)| s.open.iter().copied()).collect();
        state.baseline = Some(ports.into_iter().collect());
        state.baseline_ms = Some(first.first_ms);
    }
}

/// Evaluate one asset, which entered the register at `created_ms` (unix
/// ms, as the match index holds it); updates its state and adds findings,
/// clears and learned certificates to `plan`.
pub fn evaluate(
    w: &World<'_>,
    (a, created_ms): (&Asset, i64),
    seen: &Seen<'_>,
    past: &Seen<'_>,
    state: &mut AssetState,
    plan: &mut Plan,
) {
    let subject = format!("asset:{}", a.tag);
    let mut all: Vec<(&Sighting, &Match)> = seen.to_vec();
    all.extend(past.iter().copied().filter(|(p, _)| !seen.iter().any(|(s, _)| s.ip == p.ip && s.batch == p.batch)));
    let had_baseline = state.baseline.is_some();
    merge_state(state, &all);
    for (s, m) in &all {
        let strong_or_named = m.strong() || m.rules.iter().any(|r| r.starts_with("hostname"));
        for c in &s.certs {
            if strong_or_named && !w.index.learned.contains_key(c) && !plan.learned.iter().any(|(k, _)| k == c) {
                plan.learned.push((c.clone(), a.tag.clone()));
            }
        }
    }
    let register = |plan: &mut Plan, kind: AlertKind, reason: &dyn Fn() -> String| {
        if plan.wants_clear(kind, &subject) {
            plan.clear(kind, subject.clone(), ClearCause::Register, reason(), w.now_ms);
        }
    };
    let on_net = !seen.is_empty();
    // A retired asset's retirement started at the change itself when the
    // register recorded it (a sighting earlier that day is no breach).
    let started = a.lifecycle.retired().then(|| w.retired_since.get(&a.tag.to_ascii_lowercase())).flatten();
    let since_ms = started.copied().unwrap_or_else(|| super::rules::lifecycle_change_ms(a));
    // Only sightings dated on or after the lifecycle change count: a retired
    // asset answering before it was retired (a late batch) is no news.
    let after_change: Vec<(&Sighting, &Match)> = all.iter().copied().filter(|(s, _)| s.last_ms >= since_ms).collect();
    for (kind, applies) in [
        (AlertKind::ShouldBeRetired, a.lifecycle.retired()),
        (AlertKind::PendingInUse, a.lifecycle == Lifecycle::Procurement),
    ] {
        if !applies {
            register(plan, kind, &|| format!("{}'s lifecycle is now {}", a.tag, a.lifecycle));
        } else if !after_change.is_empty() {
            let (severity, summary) = if kind == AlertKind::ShouldBeRetired {
                (
                    bump(Severity::High, a.criticality),
                    format!(
                        "{} ({}) is {} in the register but still answers at {}",
                        a.tag,
                        a.name,
                        a.lifecycle,
                        where_seen(&after_change)
                    ),
                )
            } else {
                (
                    Severity::Medium,
                    format!(
                        "{} ({}) is still in procurement but already answers at {}",
                        a.tag,
                        a.name,
                        where_seen(&after_change)
                    ),
                )
            };
            let evidence = |asset, seen| {
                let breach = LifecycleBreach { asset, lifecycle: a.lifecycle, since: a.lifecycle_since, seen };
                if kind == AlertKind::ShouldBeRetired {
                    Evidence::ShouldBeRetired(breach)
                } else {
                    Evidence::PendingInUse(breach)
                }
            };
            plan.findings.push(asset_finding(kind, a, severity, summary, evidence, &after_change));
        } else if let Some(l) = state.last_seen_ms.filter(|_| plan.wants_clear(kind, &subject)) {
            let reason = format!("{} no longer answers; last seen {}", a.tag, fmt_ms(l));
            plan.clear(kind, subject.clone(), ClearCause::Absent, reason, l);
        }
    }
    if a.lifecycle.in_service() {
        if on_net {
            services(a, seen, &all, state, had_baseline, plan);
        }
        support(w, a, seen, plan);
        super::owners::for_asset(w, a, seen, state, plan);
    } else {
        for kind in [AlertKind::NewService, AlertKind::CoverageGap, AlertKind::OutOfSupport, AlertKind::OwnerDeparted] {
            register(plan, kind, &|| format!("{} is out of service ({})", a.tag, a.lifecycle));
        }
    }
    if on_net {
        super::end_of_life::for_asset(w, a, seen, plan);
    }
    wrong_segment(a, &all, plan);
    if a.lifecycle != Lifecycle::Deployed {
        register(plan, AlertKind::Missing, &|| format!("{} is no longer deployed ({})", a.tag, a.lifecycle));
    } else if let Some((latest, _)) = seen.iter().max_by_key(|(s, _)| s.last_ms) {
        if plan.wants_clear(AlertKind::Missing, &subject) {
            let reason = format!("seen again at {} by {}", latest.ip, latest.agent);
            plan.clear(AlertKind::Missing, subject.clone(), ClearCause::Resolved, reason, latest.last_ms);
        }
    } else {
        missing(w, a, created_ms, state, plan);
    }
}

fn wrong_segment(a: &Asset, all: &Seen<'_>, plan: &mut Plan) {
    let Some(seg) = a.expected_segment else { return };
    for (s, m) in all {
        let ip: Option<std::net::IpAddr> = s.ip.parse().ok();
        let outside = ip.is_some_and(|ip| !seg.contains(&ip) && !a.ips.contains(&ip));
        if outside && m.rules.iter().any(|r| r.starts_with("mac ")) {
            let summary = format!(
                "{}'s MAC {} answered at {}, outside its segment {seg}",
                a.tag,
                s.mac.as_deref().unwrap_or("?"),
                s.ip
            );
            let evidence = |asset, seen| {
                Evidence::IdentityConflict(Conflict::WrongSegment(WrongSegment {
                    asset,
                    expected_segment: seg,
                    seen_at: s.ip.clone(),
                    seen_on: s.segment.clone(),
                    seen,
                }))
            };
            plan.findings.push(asset_finding(
                AlertKind::IdentityConflict,
                a,
                Severity::High,
                summary,
                evidence,
                &[(s, m)],
            ));
            return;
        }
    }
}

/// `new-service` and `coverage-gap` from what `seen` shows; `all` (with the
/// past sightings) dates a new port from the earliest sighting that had it
/// open, so its alert says when the port opened whatever order the batches
/// arrived in.
fn services(a: &Asset, seen: &Seen<'_>, all: &Seen<'_>, state: &AssetState, had_baseline: bool, plan: &mut Plan) {
    let subject = format!("asset:{}", a.tag);
    let open: BTreeSet<u16> = seen.iter().flat_map(|(s, _)| s.open.iter().copied()).collect();
    let expected: BTreeSet<u16> = a.expected_services.iter().map(|e| e.port.0).collect();
    let latest = seen.iter().max_by_key(|(s, _)| s.last_ms).map(|(s, _)| *s);
    let (batch, at) = latest.map_or((String::new(), 0), |s| (s.batch.clone(), s.last_ms));
    let observed = |plan: &mut Plan, kind: AlertKind, reason: &str| {
        plan.clear(kind, subject.clone(), ClearCause::Observed { batch: batch.clone() }, reason.into(), at);
    };
    let base: &[u16] = state.baseline.as_deref().unwrap_or(&[]);
    let new: Vec<u16> = open
        .iter()
        .copied()
        .filter(|p| !base.contains(p) && !state.accepted.contains(p) && !expected.contains(p))
        .collect();
    // Passive listening says nothing about ports: sightings from it alone
    // neither raise nor clear new-service.
    let heard_only = !seen.is_empty() && seen.iter().all(|(s, _)| s.passive);
    if heard_only {
    } else if !new.is_empty() && had_baseline {
        let list = new.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let mut f = asset_finding(
            AlertKind::NewService,
            a,
            bump(Severity::Low, a.criticality),
            format!("{} has new open port(s) {list} at {}", a.tag, where_seen(seen)),
            |asset, seen| {
                Evidence::NewService(NewPorts {
                    asset,
                    new_ports: new.clone(),
                    baseline: base.to_vec(),
                    expected: expected.iter().copied().collect(),
                    seen,
                })
            },
            seen,
        );
        let opened = all
            .iter()
            .filter(|(s, _)| state.baseline_ms.is_none_or(|b| s.first_ms > b) && s.open.iter().any(|p| new.contains(p)))
            .map(|(s, _)| s.first_ms)
            .min();
        if let Some(t) = opened {
            f.first_seen_ms = f.first_seen_ms.min(t);
        }
        plan.findings.push(f);
    } else {
        observed(plan, AlertKind::NewService, "the new ports closed again");
    }
    let mut absent = Vec::new();
    let mut checked = false;
    for e in &a.expected_services {
        let probed =
            seen.iter().any(|(s, _)| s.probed.as_deref().is_some_and(|p| census_proto::portlist::contains(p, e.port)));
        checked |= probed;
        if probed && !open.contains(&e.port.0) {
            absent.push(AbsentService { port: e.port.0, name: e.name.clone() });
        }
    }
    if !absent.is_empty() {
        let names: Vec<String> = absent.iter().map(|v| format!("{} ({})", v.port, v.name)).collect();
        plan.findings.push(asset_finding(
            AlertKind::CoverageGap,
            a,
            Severity::High,
            format!("{} answers but its expected service(s) {} are not open", a.tag, names.join(", ")),
            |asset, seen| {
                Evidence::CoverageGap(AbsentServices {
                    asset,
                    absent,
                    open_ports: open.iter().copied().collect(),
                    seen,
                })
            },
            seen,
        ));
    } else if checked || a.expected_services.is_empty() {
        observed(plan, AlertKind::CoverageGap, "the expected services answer again");
    }
}

fn missing(w: &World<'_>, a: &Asset, created_ms: i64, state: &AssetState, plan: &mut Plan) {
    let since = state.last_seen_ms.unwrap_or(created_ms);
    let m = w.sweeps.misses_asset(a, since);
    let after = w.settings.missing_after_ms.get(&a.asset_type).copied().unwrap_or(w.settings.missing_default_ms);
    // Only complete sweeps of its segment after its last sighting, spanning missing_after in observation time.
    if m.count < w.settings.gone_after_sweeps.max(1) || m.last_finish_ms - since < after {
        return;
    }
    let count = m.count;
    let summary = match state.last_seen_ms {
        Some(l) => {
            format!("{} ({}) not seen since {} over {count} complete sweeps of its segment", a.tag, a.name, fmt_ms(l))
        }
        None => format!("{} ({}) never seen over {count} complete sweeps of its segment", a.tag, a.name),
    };
    let segment = w.sweeps.groups().filter(|g| g.covers(a)).map(|g| g.segment.clone()).next();
    let mut f = asset_finding(
        AlertKind::Missing,
        a,
        bump(Severity::Medium, a.criticality),
        summary,
        |asset, _| {
            Evidence::Missing(MissingAsset {
                asset,
                last_seen_ms: state.last_seen_ms,
                last_ip: state.last_ip.clone(),
                complete_sweeps: count,
                last_sweep_ms: m.last_finish_ms,
                missing_after_ms: after,
                segment: segment.clone(),
            })
        },
        &[],
    );
    f.segment = segment;
    f.last_seen_ms = state.last_seen_ms.unwrap_or(0);
    plan.findings.push(f);
}

fn support(w: &World<'_>, a: &Asset, seen: &Seen<'_>, plan: &mut Plan) {
    let today = day_of(w.now_ms);
    let mut lapsed = Vec::new();
    if let Some(end) = a.support_end.filter(|d| *d < today) {
        lapsed.push(LapsedItem { what: "support".into(), product: None, vendor: None, ended: end });
    }
    for l in &a.licences {
        if let Some(exp) = l.expires.filter(|d| *d < today) {
            lapsed.push(LapsedItem {
                what: "licence".into(),
                product: Some(l.product.clone()),
                vendor: Some(l.vendor.clone()),
                ended: exp,
            });
        }
    }
    if lapsed.is_empty() {
        let reason = "support and licences are current".to_string();
        plan.clear(AlertKind::OutOfSupport, format!("asset:{}", a.tag), ClearCause::Register, reason, w.now_ms);
        return;
    }
    let what: Vec<String> = lapsed
        .iter()
        .map(|l| match &l.product {
            Some(p) => format!("licence {p} expired {}", l.ended),
            None => format!("support ended {}", l.ended),
        })
        .collect();
    plan.findings.push(asset_finding(
        AlertKind::OutOfSupport,
        a,
        bump(Severity::Medium, a.criticality),
        format!("{} is {} but {}", a.tag, a.lifecycle, what.join("; ")),
        |asset, seen| Evidence::OutOfSupport(Lapsed { asset, lapsed, seen }),
        seen,
    ));
}

/// A unix-ms time as RFC 3339 (UTC, seconds).
pub fn fmt_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A duration in ms for people: `5m`, `1d`, `36h`.
pub fn fmt_duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        _ if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        _ if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}
