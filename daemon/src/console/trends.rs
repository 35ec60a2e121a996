//! The dashboard's per-segment figures: unknown devices first seen per day
//! over the last [`DAYS`] days (one small bar chart per segment, drawn as
//! SVG here), and expected-service coverage (assets in service that expect
//! a service, such as the EDR agent, against those with a live
//! coverage-gap alert). The aggregations are pure functions over alerts
//! and assets.

use std::collections::{BTreeMap, HashSet};

use maud::{Markup, html};

use super::layout::text;
use crate::alerts::{Alert, AlertKind};
use crate::register::Asset;

/// Days the unknown-device charts cover, today included.
pub const DAYS: usize = 30;
/// Most segments charted (the busiest).
pub const SEGMENTS: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// One segment's unknown devices by the UTC day they were first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDays {
    /// The segment's name (the agent's), or `(none)`.
    pub segment: String,
    /// Devices first seen each day, oldest first; the last is today.
    pub per_day: [i64; DAYS],
    /// Their sum.
    pub total: i64,
}

/// Unknown-asset alerts (live or resolved) first seen in the last [`DAYS`]
/// days, counted per segment and day; the [`SEGMENTS`] busiest segments,
/// busiest first.
pub fn unknown_per_segment(alerts: &[Alert], now_ms: i64) -> Vec<SegmentDays> {
    let first_day = now_ms.div_euclid(DAY_MS) - (DAYS as i64 - 1);
    let mut by: BTreeMap<String, [i64; DAYS]> = BTreeMap::new();
    for a in alerts.iter().filter(|a| a.kind == AlertKind::UnknownAsset) {
        let day = a.first_seen_ms.div_euclid(DAY_MS) - first_day;
        if let Ok(i) = usize::try_from(day)
            && i < DAYS
        {
            by.entry(a.segment.clone().unwrap_or_else(|| "(none)".into())).or_insert([0; DAYS])[i] += 1;
        }
    }
    let mut out: Vec<SegmentDays> = by
        .into_iter()
        .map(|(segment, per_day)| SegmentDays { total: per_day.iter().sum(), segment, per_day })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.segment.cmp(&b.segment)));
    out.truncate(SEGMENTS);
    out
}

/// A segment's 30 days as a bar chart (each bar titled with its day and count).
pub fn sparkline(s: &SegmentDays, now_ms: i64) -> Markup {
    let max = s.per_day.iter().copied().max().unwrap_or(0).max(1);
    let (bar, gap, h) = (8, 2, 36);
    let first_day = now_ms.div_euclid(DAY_MS) - (DAYS as i64 - 1);
    let label = format!("{}: {} unknown device(s) first seen in {DAYS} days", s.segment, s.total);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=((bar + gap) * DAYS) height=(h) role="img" aria-label=(label) {
            @for (i, n) in s.per_day.iter().enumerate() {
                @let bh = if *n > 0 { ((*n as f64 / max as f64) * (h - 2) as f64).round().max(2.0) } else { 1.0 };
                @let day = time::OffsetDateTime::from_unix_timestamp((first_day + i as i64) * 86_400)
                    .map(|t| t.date().to_string()).unwrap_or_default();
                rect x=(i * (bar + gap)) y=(h as f64 - bh) width=(bar) height=(bh)
                    class=(if *n > 0 { "bar bar-kind" } else { "bar bar-empty" }) {
                    title { (day) ": " (n) }
                }
            }
        }
    }
}

/// Expected-service coverage of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The assets' expected segment (a CIDR), or `(no expected segment)`.
    pub segment: String,
    /// Assets in service expecting at least one service.
    pub expecting: i64,
    /// Of those, with a live coverage-gap alert.
    pub gaps: i64,
}

/// Coverage per expected segment, over assets in service that expect a
/// service; `gap_tags` are the assets with a live coverage-gap alert.
pub fn coverage_per_segment<'a>(assets: impl Iterator<Item = &'a Asset>, gap_tags: &HashSet<&str>) -> Vec<Coverage> {
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for a in assets.filter(|a| !a.lifecycle.retired() && !a.expected_services.is_empty()) {
        let seg = a.expected_segment.map_or_else(|| "(no expected segment)".to_string(), |n| n.to_string());
        let e = by.entry(seg).or_default();
        e.0 += 1;
        e.1 += i64::from(gap_tags.contains(a.tag.as_str()));
    }
    by.into_iter().map(|(segment, (expecting, gaps))| Coverage { segment, expecting, gaps }).collect()
}

/// The coverage table.
pub fn coverage_table(rows: &[Coverage]) -> Markup {
    html! {
        table #coverage {
            thead { tr { th { "Expected segment" } th { "Assets expecting a service" } th { "With a coverage gap" } th { "Covered" } } }
            tbody {
                @for c in rows {
                    @let pct = if c.expecting > 0 { (c.expecting - c.gaps) * 100 / c.expecting } else { 100 };
                    tr {
                        td.mono { (text(&c.segment)) }
                        td { (c.expecting) }
                        td { @if c.gaps > 0 { a href={ "/?kind=coverage-gap" } { (c.gaps) } } @else { "0" } }
                        td { span class=(if pct < 100 { "sev sev-high" } else { "" }) { (pct) " %" } }
                    }
                }
                @if rows.is_empty() { tr { td colspan="4" .muted { "No asset in service records an expected service." } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(segment: &str, first_seen_ms: i64) -> Alert {
        let mut a: Alert = serde_json::from_value(serde_json::json!({
            "id": 1, "kind": "unknown-asset", "subject": "device:x", "state": "resolved", "severity": "medium",
            "summary": "s", "first_seen_ms": first_seen_ms, "last_seen_ms": 0, "opened_ms": 0, "updated_ms": 0,
            "updates": 0, "reopened": 0, "clear_count": 0, "rev": 0
        }))
        .unwrap();
        a.segment = Some(segment.into());
        a
    }

    #[test]
    fn unknown_devices_count_on_the_day_first_seen_within_thirty_days() {
        let now = 100 * DAY_MS + 5_000;
        let alerts = [
            unknown("lab", now),
            unknown("lab", now - DAY_MS),
            unknown("lab", now - 29 * DAY_MS),
            unknown("lab", now - 31 * DAY_MS), // too old
            unknown("office", now),
        ];
        let s = unknown_per_segment(&alerts, now);
        assert_eq!(s.iter().map(|s| (s.segment.as_str(), s.total)).collect::<Vec<_>>(), [("lab", 3), ("office", 1)]);
        assert_eq!((s[0].per_day[DAYS - 1], s[0].per_day[DAYS - 2], s[0].per_day[0]), (1, 1, 1));
    }

    #[test]
    fn coverage_counts_assets_in_service_that_expect_a_service() {
        let asset = |tag: &str, lifecycle: &str, services: bool| {
            crate::register::model::asset_from_json(serde_json::json!({
                "tag": tag, "name": "n", "type": "server", "lifecycle": lifecycle, "expected_segment": "198.18.0.0/24",
                "expected_services": if services { serde_json::json!([{ "port": 443, "name": "edr" }]) } else { serde_json::json!([]) }
            }))
            .unwrap()
        };
        let assets = [
            asset("A", "deployed", true),
            asset("B", "deployed", true),
            asset("C", "deployed", false),
            asset("D", "disposed", true),
        ];
        let gaps: HashSet<&str> = ["B"].into();
        let rows = coverage_per_segment(assets.iter(), &gaps);
        assert_eq!(rows, [Coverage { segment: "198.18.0.0/24".into(), expecting: 2, gaps: 1 }]);
    }
}
