//! The per-asset rules: should-be-retired, pending-in-use, missing,
//! new-service, coverage-gap, out-of-support and the wrong-segment kind of
//! identity-conflict — everything judged against one register entry and the
//! hosts that matched it (one asset however many MACs and addresses it
//! answers on).

use std::collections::BTreeSet;

use serde_json::json;

use super::identity::Match;
use super::rules::{AssetState, Plan, World, day_of, describe};
use super::sighting::Sighting;
use crate::alerts::{AlertKind, Finding, Severity};
use crate::register::{Asset, Criticality, Lifecycle};

fn bump(sev: Severity, c: Criticality) -> Severity {
    if matches!(c, Criticality::High | Criticality::Critical) { sev.raised() } else { sev }
}

fn asset_finding(
    kind: AlertKind,
    a: &Asset,
    severity: Severity,
    summary: String,
    evidence: serde_json::Value,
    seen: &[(&Sighting, &Match)],
) -> Finding {
    let latest = seen.iter().max_by_key(|(s, _)| s.last_ms).map(|(s, _)| *s);
    let mut evidence = evidence;
    evidence["asset"] = json!({
        "tag": a.tag, "name": a.name, "owner": a.owner, "lifecycle": a.lifecycle,
        "lifecycle_since": a.lifecycle_since, "criticality": a.criticality,
    });
    if !seen.is_empty() {
        evidence["seen"] = json!(
            seen.iter()
                .map(|(s, m)| {
                    let mut d = describe(s);
                    d["matched_by"] = json!(m.rules);
                    d["confidence"] = json!(m.confidence);
                    d
                })
                .collect::<Vec<_>>()
        );
    }
    Finding {
        kind,
        subject: format!("asset:{}", a.tag),
        severity,
        tag: Some(a.tag.clone()),
        ip: latest.map(|s| s.ip.clone()),
        mac: latest.and_then(|s| s.mac.clone()),
        vendor: latest.and_then(|s| s.vendor.clone()),
        segment: latest.map(|s| s.segment.clone()),
        agent: latest.map(|s| s.agent.clone()),
        summary,
        evidence,
        first_seen_ms: seen.iter().map(|(s, _)| s.first_ms).min().unwrap_or(0),
        last_seen_ms: seen.iter().map(|(s, _)| s.last_ms).max().unwrap_or(0),
    }
}

fn where_seen(seen: &[(&Sighting, &Match)]) -> String {
    let ips: BTreeSet<&str> = seen.iter().map(|(s, _)| s.ip.as_str()).collect();
    ips.into_iter().collect::<Vec<_>>().join(", ")
}

/// Evaluate one asset; updates its state and adds findings and learned certificates to `plan`.
pub fn evaluate(w: &World<'_>, a: &Asset, seen: &[(&Sighting, &Match)], state: &mut AssetState, plan: &mut Plan) {
    let now = w.now_ms;
    let subject = format!("asset:{}", a.tag);
    let live = w.live_subjects.contains(&subject);
    if let Some((latest, _)) = seen.iter().max_by_key(|(s, _)| s.last_ms) {
        let first = seen.iter().map(|(s, _)| s.first_ms).min().unwrap_or(latest.first_ms);
        state.first_seen_ms = Some(state.first_seen_ms.map_or(first, |f| f.min(first)));
        if state.last_seen_ms.is_none_or(|l| l < latest.last_ms) {
            state.last_seen_ms = Some(latest.last_ms);
            state.last_ip = Some(latest.ip.clone());
            state.last_agent = Some(latest.agent.clone());
        }
        if live {
            plan.clear_reasons.insert(subject.clone(), format!("seen again at {} by {}", latest.ip, latest.agent));
        }
    } else if let Some(l) = state.last_seen_ms.filter(|_| live) {
        plan.clear_reasons.insert(subject.clone(), format!("no longer answering; last seen {}", fmt_ms(l)));
    }
    for (s, m) in seen {
        let strong_or_named = m.strong() || m.rules.iter().any(|r| r.starts_with("hostname"));
        for c in &s.certs {
            if strong_or_named && !w.index.learned.contains_key(c) && !plan.learned.iter().any(|(k, _)| k == c) {
                plan.learned.push((c.clone(), a.tag.clone()));
            }
        }
    }
    let on_net = !seen.is_empty();
    if on_net && a.lifecycle.retired() {
        plan.findings.push(asset_finding(
            AlertKind::ShouldBeRetired,
            a,
            bump(Severity::High, a.criticality),
            format!(
                "{} ({}) is {} in the register but still answers at {}",
                a.tag,
                a.name,
                a.lifecycle,
                where_seen(seen)
            ),
            json!({ "lifecycle": a.lifecycle, "since": a.lifecycle_since }),
            seen,
        ));
    }
    if on_net && a.lifecycle == Lifecycle::Procurement {
        plan.findings.push(asset_finding(
            AlertKind::PendingInUse,
            a,
            Severity::Medium,
            format!("{} ({}) is still in procurement but already answers at {}", a.tag, a.name, where_seen(seen)),
            json!({ "lifecycle": a.lifecycle }),
            seen,
        ));
    }
    if on_net && a.lifecycle.in_service() {
        services(a, seen, state, plan);
    }
    if on_net && let Some(seg) = a.expected_segment {
        for (s, m) in seen {
            let ip: Option<std::net::IpAddr> = s.ip.parse().ok();
            let outside = ip.is_some_and(|ip| !seg.contains(&ip) && !a.ips.contains(&ip));
            if outside && m.rules.iter().any(|r| r.starts_with("mac ")) {
                plan.findings.push(asset_finding(
                    AlertKind::IdentityConflict,
                    a,
                    Severity::High,
                    format!(
                        "{}'s MAC {} answered at {}, outside its segment {seg}",
                        a.tag,
                        s.mac.as_deref().unwrap_or("?"),
                        s.ip
                    ),
                    json!({ "expected_segment": seg, "seen_at": s.ip, "seen_on": s.segment }),
                    seen,
                ));
                break;
            }
        }
    }
    if !on_net && a.lifecycle == Lifecycle::Deployed {
        missing(w, a, state, plan);
    }
    if a.lifecycle.in_service() {
        support(w, a, seen, plan);
    }
    let _ = now;
}

fn services(a: &Asset, seen: &[(&Sighting, &Match)], state: &mut AssetState, plan: &mut Plan) {
    let open: BTreeSet<u16> = seen.iter().flat_map(|(s, _)| s.open.iter().copied()).collect();
    let expected: BTreeSet<u16> = a.expected_services.iter().map(|e| e.port.0).collect();
    match &state.baseline {
        None => state.baseline = Some(open.iter().copied().collect()),
        Some(base) => {
            let new: Vec<u16> = open.iter().copied().filter(|p| !base.contains(p) && !expected.contains(p)).collect();
            if !new.is_empty() {
                let list = new.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
                plan.findings.push(asset_finding(
                    AlertKind::NewService,
                    a,
                    bump(Severity::Low, a.criticality),
                    format!("{} has new open port(s) {list} at {}", a.tag, where_seen(seen)),
                    json!({ "new_ports": new, "baseline": base, "expected": expected }),
                    seen,
                ));
            }
        }
    }
    let mut absent = Vec::new();
    for e in &a.expected_services {
        let probed =
            seen.iter().any(|(s, _)| s.probed.as_deref().is_some_and(|p| census_proto::portlist::contains(p, e.port)));
        if probed && !open.contains(&e.port.0) {
            absent.push(json!({ "port": e.port.0, "name": e.name }));
        }
    }
    if !absent.is_empty() {
        let names: Vec<String> =
            absent.iter().map(|v| format!("{} ({})", v["port"], v["name"].as_str().unwrap_or_default())).collect();
        plan.findings.push(asset_finding(
            AlertKind::CoverageGap,
            a,
            Severity::High,
            format!("{} answers but its expected service(s) {} are not open", a.tag, names.join(", ")),
            json!({ "absent": absent, "open_ports": open }),
            seen,
        ));
    }
}

fn missing(w: &World<'_>, a: &Asset, state: &AssetState, plan: &mut Plan) {
    let created = w.index.created_ms.get(&a.tag).copied().unwrap_or(0);
    let since = state.last_seen_ms.unwrap_or(created);
    let (mut count, mut first, mut last, mut segment) = (0usize, i64::MAX, 0i64, None);
    for g in w.sweeps.iter().filter(|g| g.covers(a)) {
        if let Some((n, f, l)) = g.after(since) {
            count += n;
            first = first.min(f);
            if l > last {
                last = l;
                segment = Some(g.segment.clone());
            }
        }
    }
    let after = w.settings.missing_after_ms.get(&a.asset_type).copied().unwrap_or(w.settings.missing_default_ms);
    if count == 0 || w.now_ms - first < after {
        return;
    }
    let summary = match state.last_seen_ms {
        Some(l) => {
            format!("{} ({}) not seen since {} over {count} complete sweeps of its segment", a.tag, a.name, fmt_ms(l))
        }
        None => format!("{} ({}) never seen over {count} complete sweeps of its segment", a.tag, a.name),
    };
    let mut f = asset_finding(
        AlertKind::Missing,
        a,
        bump(Severity::Medium, a.criticality),
        summary,
        json!({
            "last_seen_ms": state.last_seen_ms, "last_ip": state.last_ip, "complete_sweeps": count,
            "first_sweep_ms": first, "last_sweep_ms": last, "missing_after_ms": after, "segment": segment,
        }),
        &[],
    );
    f.segment = segment;
    f.last_seen_ms = state.last_seen_ms.unwrap_or(0);
    plan.findings.push(f);
}

fn support(w: &World<'_>, a: &Asset, seen: &[(&Sighting, &Match)], plan: &mut Plan) {
    let today = day_of(w.now_ms);
    let mut lapsed = Vec::new();
    if let Some(end) = a.support_end.filter(|d| *d < today) {
        lapsed.push(json!({ "what": "support", "ended": end }));
    }
    for l in &a.licences {
        if let Some(exp) = l.expires.filter(|d| *d < today) {
            lapsed.push(json!({ "what": "licence", "product": l.product, "vendor": l.vendor, "ended": exp }));
        }
    }
    if lapsed.is_empty() {
        return;
    }
    let what: Vec<String> = lapsed
        .iter()
        .map(|l| match l["product"].as_str() {
            Some(p) => format!("licence {p} expired {}", l["ended"].as_str().unwrap_or_default()),
            None => format!("support ended {}", l["ended"].as_str().unwrap_or_default()),
        })
        .collect();
    plan.findings.push(asset_finding(
        AlertKind::OutOfSupport,
        a,
        bump(Severity::Medium, a.criticality),
        format!("{} is {} but {}", a.tag, a.lifecycle, what.join("; ")),
        json!({ "lapsed": lapsed }),
        seen,
    ));
}

/// A unix-ms time as RFC 3339.
pub fn fmt_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}
