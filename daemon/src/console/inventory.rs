//! The inventory (the register as a table, paged on the server by tag) and
//! an asset's page: the whois answer — what it is, who owns it, licences,
//! support, should it exist — then its live alerts and its change history.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav, text, when};
use super::session::Signed;
use crate::alerts::AlertFilter;
use crate::api::AppState;
use crate::client::seg as percent;
use crate::register::Asset;
use crate::store::now_ms;

/// Assets a page of the inventory shows.
pub const PAGE: usize = 50;

/// Query of the inventory.
#[derive(Debug, Default, Deserialize)]
pub struct InventoryQuery {
    /// Start after this tag (the previous page's last).
    pub after: Option<String>,
    /// A search (`register::search` syntax).
    #[serde(default)]
    pub q: String,
}

/// The assets matching `q` after tag `after`, at most `limit` (all assets without a search).
async fn find(
    state: &AppState,
    q: &str,
    after: Option<String>,
    limit: usize,
) -> Result<Vec<Asset>, (StatusCode, String)> {
    let query = crate::register::search::AssetQuery::parse(q).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    state
        .run(move |r| crate::app::query::search_assets(r, &query, after.as_deref(), limit, now_ms()))
        .await
        .map_err(|e| (e.status, e.message))
}

/// `GET /inventory.csv?q=`: the current result as CSV (every column; cells safe in a spreadsheet).
pub async fn export(State(state): State<AppState>, signed: Signed, Query(q): Query<InventoryQuery>) -> Response {
    match find(&state, &q.q, None, usize::MAX).await {
        Ok(assets) => (
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"census-assets.csv\""),
            ],
            crate::register::csv::to_csv(&assets, crate::register::csv::CsvOptions::default()),
        )
            .into_response(),
        Err((status, why)) => layout::error_page(status, "Search refused", &why, Some(&signed)),
    }
}

fn list_cell<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// `GET /inventory`: the register, [`PAGE`] assets a page, by tag.
pub async fn list(State(state): State<AppState>, signed: Signed, Query(q): Query<InventoryQuery>) -> Response {
    let after = q.after.clone().filter(|a| !a.is_empty());
    let (mut assets, error) = match find(&state, &q.q, after.clone(), PAGE + 1).await {
        Ok(a) => (a, None),
        Err((StatusCode::BAD_REQUEST, why)) => (Vec::new(), Some(why)),
        Err((status, why)) => return layout::error_page(status, "Error", &why, Some(&signed)),
    };
    let next = (assets.len() > PAGE).then(|| assets[PAGE - 1].tag.clone());
    assets.truncate(PAGE);
    let body = html! {
        h1 { "Inventory" }
        form.filters.panel method="get" action="/inventory" {
            label { "Search" input type="search" name="q" value=(q.q) size="70"
                placeholder="lifecycle:deployed owner:platform-team seen:<7d alert:open port:3389 segment:198.18.10.0/24"; }
            button type="submit" { "Search" }
            a href="/inventory" { "Clear" }
            a href={ "/inventory.csv?q=" (percent(&q.q)) } hx-boost="false" { "Export CSV" }
            @if signed.may(crate::people::Role::Admin) { a href="/import" { "Import…" } }
        }
        @if let Some(e) = &error { div.error role="alert" { (e) } }
        table #assets {
            thead { tr {
                th { "Tag" } th { "Name" } th { "Type" } th { "Owner" } th { "Lifecycle" }
                th { "Addresses" } th { "MACs" } th { "Host names" } th { "Support until" }
            } }
            tbody {
                @for a in &assets {
                    tr {
                        td.mono { a href={ "/inventory/" (percent(&a.tag)) } { (text(&a.tag)) } }
                        td { (text(&a.name)) }
                        td { (a.asset_type) }
                        td { (text(&a.owner)) }
                        td { (a.lifecycle) }
                        td.mono { (list_cell(&a.ips)) }
                        td.mono { (list_cell(&a.macs)) }
                        td { (text(&a.hostnames.join(", "))) }
                        td { @if let Some(d) = a.support_end { (d) } }
                    }
                }
                @if assets.is_empty() { tr { td colspan="9" .muted { "The register is empty: import it with censusd register import FILE." } } }
            }
        }
        div.pager {
            @if after.is_some() { a href={ "/inventory?q=" (percent(&q.q)) } { "« First page" } }
            @if let Some(n) = next { a href={ "/inventory?q=" (percent(&q.q)) "&after=" (percent(&n)) } { "Next page »" } }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Inventory", Nav::Inventory, Some(&signed), body))
}

fn facts(a: &Asset) -> Markup {
    html! {
        dl.facts {
            dt { "Name" } dd { (text(&a.name)) }
            dt { "Type" } dd { (a.asset_type) }
            dt { "Owner" } dd { (text(&a.owner)) @if !a.department.is_empty() { " (" (text(&a.department)) ")" } }
            dt { "Lifecycle" } dd { (a.lifecycle) @if let Some(d) = a.lifecycle_since { " since " (d) } }
            dt { "Criticality" } dd { (a.criticality) }
            dt { "Addresses" } dd.mono { (list_cell(&a.ips)) }
            dt { "MACs" } dd.mono { (list_cell(&a.macs)) }
            dt { "Host names" } dd { (text(&a.hostnames.join(", "))) }
            dt { "Expected segment" } dd.mono { @if let Some(n) = a.expected_segment { (n) } }
            dt { "Support until" } dd { @if let Some(d) = a.support_end { (d) } @else { span.muted { "not recorded" } } }
            dt { "Licences" } dd {
                @for l in &a.licences {
                    (text(&l.product)) " (" (text(&l.vendor)) ")" @if let Some(e) = l.expires { " until " (e) } br;
                }
                @if a.licences.is_empty() { span.muted { "none recorded" } }
            }
            dt { "Expected services" } dd { (list_cell(&a.expected_services.iter().map(|s| format!("{}/{}", s.port, s.name)).collect::<Vec<_>>())) }
        }
    }
}

/// `GET /inventory/{tag}`: one asset.
pub async fn asset(State(state): State<AppState>, signed: Signed, Path(tag): Path<String>) -> Response {
    let t = tag.clone();
    let loaded = state
        .run(move |r| {
            let Some(asset) = r.store().asset(&t)? else { return Ok(None) };
            let whois = crate::app::query::whois(r, &asset.tag, now_ms())?;
            let ips: Vec<String> =
                whois.as_ref().map(|w| w.hosts.iter().map(|h| h.ip.clone()).collect()).unwrap_or_default();
            let history = crate::app::timeline::load(r, &asset.tag, &ips)?;
            let filter = AlertFilter { tag: Some(asset.tag.clone()), limit: Some(200), ..Default::default() };
            let alerts = r.store().alerts(&filter)?;
            Ok::<_, crate::store::StoreError>(Some((asset, whois, history, alerts)))
        })
        .await;
    let (asset, whois, history, alerts) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => {
            let why = format!("No asset has the tag `{}`.", text(&tag));
            return layout::error_page(StatusCode::NOT_FOUND, "No such asset", &why, Some(&signed));
        }
        Err(e) => return layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    };
    let now = now_ms();
    let body = html! {
        h1 { (text(&asset.tag)) " — " (text(&asset.name)) }
        @if let Some(w) = &whois {
            @let status = serde_json::to_value(w.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            div.panel {
                p class={ "verdict verdict-" (status) } #verdict { (text(&w.verdict)) }
                @if let Some(seen) = &w.seen {
                    p.muted {
                        "First seen " (when(seen.first_seen_ms.unwrap_or(0)))
                        ", last seen " (when(seen.last_seen_ms.unwrap_or(0)))
                        @if let Some(ip) = &seen.last_ip { " at " span.mono { (text(ip)) } }
                        @if let Some(agent) = &seen.last_agent { " by " (text(agent)) }
                    }
                }
            }
        }
        div.panel { (facts(&asset)) }
        h2 { "Live alerts" }
        table #asset-alerts {
            thead { tr { th { "Kind" } th { "Severity" } th { "State" } th { "What" } th { "Last seen" } } }
            tbody {
                @for a in &alerts {
                    tr { td { (a.kind.as_str()) } td { (a.severity.as_str()) } td { (a.state.as_str()) }
                         td { (text(&a.summary)) } td { (layout::ago(a.last_seen_ms, now)) " ago" } }
                }
                @if alerts.is_empty() { tr { td colspan="5" .muted { "None." } } }
            }
        }
        h2 { "Timeline" }
        table #timeline {
            thead { tr { th { "When" } th { "Who" } th { "From" } th { "What" } } }
            tbody {
                @for e in &history {
                    tr { td { (when(e.at_ms)) } td { (text(&e.who)) } td { (e.source) } td { (text(&e.what)) } }
                }
                @if history.is_empty() { tr { td colspan="4" .muted { "Nothing yet." } } }
            }
        }
    };
    layout::respond(StatusCode::OK, layout::page(&asset.tag, Nav::Inventory, Some(&signed), body))
}
