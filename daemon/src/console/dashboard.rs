//! The dashboard: live alerts by kind and severity, the register by
//! lifecycle stage, unknown devices per segment over 30 days and
//! expected-service coverage per segment ([`super::trends`]), support and
//! licences running out in the next 90 days, and each agent's sweeps and
//! the notification backlog. Charts are SVG
//! drawn here on the server (no chart library, nothing from a CDN).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::layout::{self, Nav, ago, text, when};
use super::session::Signed;
use super::trends;
use crate::alerts::{AlertFilter, AlertKind, AlertState, Severity};
use crate::api::AppState;
use crate::client::seg as percent;
use crate::register::{Asset, Day, Lifecycle};
use crate::store::now_ms;

/// How far ahead support ends and licence expiries are listed, days.
pub const HORIZON_DAYS: i64 = 90;

/// A horizontal bar chart: one labelled bar per (label, value, CSS class), scaled to the largest.
pub fn bars(title: &str, rows: &[(String, i64, &str)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let (row_h, label_w, bar_w) = (22, 190, 320);
    let height = row_h * rows.len().max(1) + 4;
    html! {
        figure.chart {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" width=(label_w + bar_w + 60) height=(height) role="img" aria-label=(title) {
                @for (i, (label, value, class)) in rows.iter().enumerate() {
                    @let y = i * row_h;
                    @let w = (*value as f64 / max as f64 * bar_w as f64).round().max(if *value > 0 { 2.0 } else { 0.0 });
                    text x="0" y=(y + 15) class="chart-label" { (text(label)) }
                    rect x=(label_w) y=(y + 3) width=(w) height=(row_h - 6) class={ "bar " (class) } {}
                    text x=(label_w as f64 + w + 6.0) y=(y + 15) class="chart-value" { (value) }
                }
                @if rows.is_empty() { text x="0" y="15" class="chart-label" { "nothing yet" } }
            }
        }
    }
}

fn day_ms(d: Day) -> Option<i64> {
    let date = time::Date::parse(&d.to_string(), &time::format_description::well_known::Iso8601::DATE).ok()?;
    Some((date.midnight().assume_utc().unix_timestamp()) * 1000)
}

/// Assets whose support ends, or a licence expires, within [`HORIZON_DAYS`] (or already has), soonest first.
fn running_out(assets: &[Asset], now: i64) -> Vec<(i64, String, &Asset)> {
    let until = now + HORIZON_DAYS * 86_400_000;
    let mut out: Vec<(i64, String, &Asset)> = Vec::new();
    for a in assets.iter().filter(|a| !a.lifecycle.retired()) {
        if let Some(ms) = a.support_end.and_then(day_ms).filter(|ms| *ms <= until) {
            out.push((ms, "support ends".into(), a));
        }
        for l in &a.licences {
            if let Some(ms) = l.expires.and_then(day_ms).filter(|ms| *ms <= until) {
                out.push((ms, format!("licence {} expires", l.product), a));
            }
        }
    }
    out.sort_by_key(|(ms, _, a)| (*ms, a.tag.clone()));
    out
}

/// One agent's cells: name, segments, last sweep, last complete sweep, state
/// (silent agents flagged) — the dashboard's and the agents page's rows.
pub fn agent_cells(a: &crate::app::query::AgentStatus, now: i64) -> Markup {
    html! {
        td { (text(&a.name)) }
        td.mono { (a.segments.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
        td { @if let Some(ms) = a.last_sweep_ms { (ago(ms, now)) " ago" } @else { span.muted { "never" } } }
        td { @if let Some(ms) = a.last_complete_sweep_ms { (ago(ms, now)) " ago" } @else { span.muted { "never" } } }
        td { @if a.revoked { "revoked" } @else if a.silent { span.sev.sev-high { "silent" } } @else { "sweeping" } }
    }
}

/// `GET /dashboard`
pub async fn page(State(state): State<AppState>, signed: Signed) -> Response {
    let now = now_ms();
    let loaded = state
        .run(move |r| {
            let status = crate::app::query::status(r, now)?;
            // The register as the console holds it decoded: no asset decoded again, none copied.
            let register = r.register()?;
            let since = now - trends::DAYS as i64 * 86_400_000;
            let mut unknown = Vec::new();
            for state in [None, Some(AlertState::Resolved)] {
                let f = AlertFilter {
                    kind: Some(AlertKind::UnknownAsset),
                    state,
                    seen_since_ms: Some(since),
                    limit: Some(200_000),
                    ..Default::default()
                };
                unknown.extend(r.store().alerts(&f)?);
            }
            let gaps = AlertFilter { kind: Some(AlertKind::CoverageGap), limit: Some(200_000), ..Default::default() };
            let gap_tags: Vec<String> = r.store().alerts(&gaps)?.into_iter().filter_map(|a| a.tag).collect();
            Ok::<_, crate::store::StoreError>((status, register, unknown, gap_tags))
        })
        .await;
    let (status, register, unknown, gap_tags) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    };
    let assets = &register.assets;
    let mut by_kind: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_severity: BTreeMap<Severity, i64> = BTreeMap::new();
    // Live: open and acknowledged (what the queue shows); suppressed ones are held.
    for c in status.alerts.iter().filter(|c| matches!(c.state, AlertState::Open | AlertState::Acknowledged)) {
        *by_kind.entry(c.kind.as_str()).or_default() += c.count;
        *by_severity.entry(c.severity).or_default() += c.count;
    }
    let kinds: Vec<(String, i64, &str)> = by_kind.iter().map(|(k, n)| (k.to_string(), *n, "bar-kind")).collect();
    let severities: Vec<(String, i64, &str)> = by_severity
        .iter()
        .rev()
        .map(|(s, n)| {
            (
                s.as_str().to_string(),
                *n,
                match s {
                    Severity::Critical => "sev-critical",
                    Severity::High => "sev-high",
                    Severity::Medium => "sev-medium",
                    Severity::Low => "sev-low",
                },
            )
        })
        .collect();
    let stages: Vec<(String, i64, &str)> = Lifecycle::ALL
        .iter()
        .map(|l| (l.as_str().to_string(), assets.iter().filter(|a| a.lifecycle == *l).count() as i64, "bar-stage"))
        .collect();
    let soon = running_out(assets, now);
    let per_segment = trends::unknown_per_segment(&unknown, now);
    let gap_tags: std::collections::HashSet<&str> = gap_tags.iter().map(String::as_str).collect();
    let coverage = trends::coverage_per_segment(assets.iter(), &gap_tags);
    let body = html! {
        h1 { "Dashboard" }
        div.grid {
            div.panel {
                h2 { a href="/" { (status.live_alerts) " live alerts" } }
                (bars("Live alerts by kind", &kinds))
                (bars("Live alerts by severity", &severities))
            }
            div.panel {
                h2 { a href="/inventory" { (assets.len()) " assets" } }
                (bars("The register by lifecycle stage", &stages))
            }
        }
        div.grid {
            div.panel {
                h2 { "Unknown devices per segment, last " (trends::DAYS) " days" }
                p.muted { "Devices first seen each day that matched no asset (resolved ones included)." }
                table #unknown-trend {
                    tbody {
                        @for s in &per_segment {
                            tr {
                                td { a href={ "/devices?segment=" (percent(&s.segment)) } { (text(&s.segment)) } }
                                td { (trends::sparkline(s, now)) }
                                td { (s.total) }
                            }
                        }
                        @if per_segment.is_empty() { tr { td .muted { "No unknown device in " (trends::DAYS) " days." } } }
                    }
                }
            }
            div.panel {
                h2 { "Expected-service coverage per segment" }
                (trends::coverage_table(&coverage))
            }
        }
        div.panel {
            h2 { "Support and licences running out in the next " (HORIZON_DAYS) " days" }
            table #running-out {
                thead { tr { th { "When" } th { "What" } th { "Asset" } th { "Owner" } } }
                tbody {
                    @for (ms, what, a) in &soon {
                        tr {
                            td { (when(*ms).get(..10).unwrap_or("")) @if *ms < now { " " span.sev.sev-high { "past" } } }
                            td { (text(what)) }
                            td.mono { a href={ "/inventory/" (percent(&a.tag)) } { (text(&a.tag)) } }
                            td { (text(&a.owner)) }
                        }
                    }
                    @if soon.is_empty() { tr { td colspan="4" .muted { "Nothing runs out within " (HORIZON_DAYS) " days." } } }
                }
            }
        }
        div.panel {
            h2 { "Agents" }
            table #agents {
                thead { tr { th { "Agent" } th { "Segments" } th { "Last sweep" } th { "Last complete sweep" } th { "State" } } }
                tbody {
                    @for a in &status.agents {
                        tr { (agent_cells(a, now)) }
                    }
                    @if status.agents.is_empty() { tr { td colspan="5" .muted { "No agents yet: censusd agent add NAME --segment CIDR." } } }
                }
            }
            p.muted {
                (status.observations) " observations stored; " (status.reconcile_queue) " batch(es) waiting for reconciliation; notifications waiting: "
                @if status.notification_backlog.values().all(|n| *n == 0) { "none" }
                @for (sink, n) in &status.notification_backlog { @if *n > 0 { (text(sink)) " " (n) " " } }
            }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Dashboard", Nav::Dashboard, Some(&signed), body))
}
