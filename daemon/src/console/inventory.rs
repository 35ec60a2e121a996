//! The inventory (the register as a table, paged on the server by tag) and
//! an asset's page: the whois answer — what it is, who owns it, licences,
//! support, should it exist — then its live alerts and its change history.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::layout::{self, Nav, text, when};
use super::session::Signed;
use crate::alerts::AlertFilter;
use crate::api::AppState;
use crate::app::query::AssetOrder;
use crate::client::seg as percent;
use crate::register::Asset;
use crate::store::now_ms;

/// Assets a page of the inventory shows.
pub const PAGE: usize = 50;

/// A column of the inventory: (key in `col=`, heading, sort order when it has one).
const COLUMNS: &[(&str, &str, Option<AssetOrder>)] = &[
    ("name", "Name", Some(AssetOrder::Name)),
    ("type", "Type", Some(AssetOrder::Type)),
    ("owner", "Owner", Some(AssetOrder::Owner)),
    ("department", "Department", None),
    ("lifecycle", "Lifecycle", Some(AssetOrder::Lifecycle)),
    ("criticality", "Criticality", Some(AssetOrder::Criticality)),
    ("addresses", "Addresses", None),
    ("macs", "MACs", None),
    ("hostnames", "Host names", None),
    ("segment", "Expected segment", None),
    ("support", "Support until", Some(AssetOrder::Support)),
    ("licences", "Licences", None),
];
/// The columns shown when none is chosen.
const DEFAULT_COLUMNS: &[&str] = &["name", "type", "owner", "lifecycle", "addresses", "macs", "hostnames", "support"];

/// Query of the inventory, read from the raw query string (`col` repeats).
#[derive(Debug, Clone)]
pub struct InventoryQuery {
    /// A search (`register::search` syntax).
    pub q: String,
    /// Start after this tag (the previous page's last; tag order only).
    pub after: Option<String>,
    /// The order.
    pub sort: AssetOrder,
    /// Descending.
    pub desc: bool,
    /// Page number from 1 (orders other than by tag).
    pub page: usize,
    /// Columns shown, in [`COLUMNS`] order.
    pub cols: Vec<&'static str>,
}

impl InventoryQuery {
    /// Parse `raw` (absent: the defaults).
    ///
    /// # Errors
    /// `(field, why)` for an order, direction, page or column that is not one.
    pub fn parse(raw: Option<&str>) -> Result<InventoryQuery, (&'static str, String)> {
        let mut out = InventoryQuery {
            q: String::new(),
            after: None,
            sort: AssetOrder::Tag,
            desc: false,
            page: 1,
            cols: Vec::new(),
        };
        let short = |v: &str| v.chars().take(40).collect::<String>();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "q" => out.q = v.into_owned(),
                "after" => out.after = Some(v.into_owned()).filter(|a| !a.is_empty()),
                "sort" if !v.is_empty() => out.sort = v.parse().map_err(|e| ("sort", e))?,
                "dir" => match v.as_ref() {
                    "" | "asc" => out.desc = false,
                    "desc" => out.desc = true,
                    _ => return Err(("dir", format!("`{}` is not asc or desc", short(&v)))),
                },
                "page" if !v.is_empty() => {
                    out.page = v
                        .parse::<usize>()
                        .ok()
                        .filter(|p| (1..=100_000).contains(p))
                        .ok_or_else(|| ("page", format!("`{}` is not a page number (1–100000)", short(&v))))?;
                }
                "col" => {
                    let col = COLUMNS
                        .iter()
                        .find(|c| c.0 == v)
                        .ok_or_else(|| ("col", format!("`{}` is not a column", short(&v))))?;
                    if !out.cols.contains(&col.0) {
                        out.cols.push(col.0);
                    }
                }
                _ => {}
            }
        }
        if out.cols.is_empty() {
            out.cols = DEFAULT_COLUMNS.to_vec();
        }
        out.cols.sort_by_key(|c| COLUMNS.iter().position(|x| x.0 == *c));
        Ok(out)
    }

    /// Paged by tag with a cursor (the register's own order), not by page number.
    fn by_cursor(&self) -> bool {
        self.sort == AssetOrder::Tag && !self.desc && self.page == 1
    }

    /// A link to this view with `change` applied to a copy.
    fn link(&self, path: &str, change: impl FnOnce(&mut InventoryQuery)) -> String {
        let mut v = self.clone();
        change(&mut v);
        let mut url = form_urlencoded::Serializer::new(format!("{path}?"));
        if !v.q.is_empty() {
            url.append_pair("q", &v.q);
        }
        if v.sort != AssetOrder::Tag {
            url.append_pair("sort", v.sort.as_str());
        }
        if v.desc {
            url.append_pair("dir", "desc");
        }
        if v.page > 1 {
            url.append_pair("page", &v.page.to_string());
        }
        if let Some(a) = &v.after {
            url.append_pair("after", a);
        }
        if v.cols != DEFAULT_COLUMNS {
            for c in &v.cols {
                url.append_pair("col", c);
            }
        }
        url.finish()
    }
}

/// A page of the assets `q` asks for: the assets, how many match in all
/// (when counted), the next page's link.
///
/// `cursor`: page by tag after `q.after` (the list's first order); else by
/// `q`'s order and page, counted.
async fn find(
    state: &AppState,
    q: &InventoryQuery,
    limit: usize,
    cursor: bool,
) -> Result<(Vec<Asset>, Option<usize>), (StatusCode, String)> {
    let query =
        crate::register::search::AssetQuery::parse(&q.q).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let (order, after, offset) = ((q.sort, q.desc), q.after.clone(), (q.page - 1).saturating_mul(PAGE));
    state
        .run(move |r| {
            if cursor {
                let page = crate::app::query::search_assets(r, &query, after.as_deref(), limit, now_ms())?;
                Ok::<_, crate::store::StoreError>((page, None))
            } else {
                let (page, total) = crate::app::query::sorted_assets(r, &query, order, offset, limit, now_ms())?;
                Ok((page, Some(total)))
            }
        })
        .await
        .map_err(|e| (e.status, e.message))
}

/// `GET /inventory.csv?q=&sort=&dir=`: every asset of the current result, in its order, as CSV
/// (every column; cells safe in a spreadsheet).
pub async fn export(State(state): State<AppState>, signed: Signed, RawQuery(raw): RawQuery) -> Response {
    let q = match InventoryQuery::parse(raw.as_deref()) {
        Ok(q) => InventoryQuery { after: None, page: 1, ..q },
        Err((field, why)) => return refused(field, &why, &signed),
    };
    match find(&state, &q, usize::MAX, false).await {
        Ok((assets, _)) => (
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

fn refused(field: &str, why: &str, signed: &Signed) -> Response {
    let msg = format!("`{field}`: {why}.");
    layout::error_page(StatusCode::BAD_REQUEST, "Request refused", &msg, Some(signed))
}

fn list_cell<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn cell(col: &str, a: &Asset) -> Markup {
    html! {
        @match col {
            "name" => td { (text(&a.name)) },
            "type" => td { (a.asset_type) },
            "owner" => td { (text(&a.owner)) },
            "department" => td { (text(&a.department)) },
            "lifecycle" => td { (a.lifecycle) },
            "criticality" => td { (a.criticality) },
            "addresses" => td.mono { (list_cell(&a.ips)) },
            "macs" => td.mono { (list_cell(&a.macs)) },
            "hostnames" => td { (text(&a.hostnames.join(", "))) },
            "segment" => td.mono { @if let Some(n) = a.expected_segment { (n) } },
            "support" => td { @if let Some(d) = a.support_end { (d) } },
            "licences" => td { (text(&a.licences.iter().map(|l| l.product.as_str()).collect::<Vec<_>>().join(", "))) },
            _ => td {},
        }
    }
}

/// A column heading: a link that sorts by it (again: the other way) when it has an order.
fn heading(q: &InventoryQuery, label: &str, order: Option<AssetOrder>) -> Markup {
    let Some(order) = order else { return html! { th { (label) } } };
    let active = q.sort == order;
    let href = q.link("/inventory", |v| {
        v.desc = active && !v.desc;
        v.sort = order;
        v.page = 1;
        v.after = None;
    });
    let mark = match (active, q.desc) {
        (true, false) => " ▲",
        (true, true) => " ▼",
        _ => "",
    };
    html! { th aria-sort=(if !active { "none" } else if q.desc { "descending" } else { "ascending" }) { a href=(href) { (label) (mark) } } }
}

/// `GET /inventory?q=&sort=&dir=&page=&after=&col=…`: the register, [`PAGE`]
/// assets a page, searched, sorted and with the columns chosen.
pub async fn list(State(state): State<AppState>, signed: Signed, RawQuery(raw): RawQuery) -> Response {
    let q = match InventoryQuery::parse(raw.as_deref()) {
        Ok(q) => q,
        Err((field, why)) => return refused(field, &why, &signed),
    };
    let (mut assets, total, error) = match find(&state, &q, PAGE + 1, q.by_cursor()).await {
        Ok((a, n)) => (a, n, None),
        Err((StatusCode::BAD_REQUEST, why)) => (Vec::new(), None, Some(why)),
        Err((status, why)) => return layout::error_page(status, "Error", &why, Some(&signed)),
    };
    let more = assets.len() > PAGE || total.is_some_and(|n| n > q.page * PAGE);
    assets.truncate(PAGE);
    let next = more.then(|| {
        if q.by_cursor() {
            let last = assets.last().map(|a| a.tag.clone());
            q.link("/inventory", |v| v.after = last)
        } else {
            q.link("/inventory", |v| v.page += 1)
        }
    });
    let first = (q.after.is_some() || q.page > 1).then(|| {
        q.link("/inventory", |v| {
            v.after = None;
            v.page = 1;
        })
    });
    let saved = super::saved::mine(&state, &signed).await;
    let body = html! {
        h1 { "Inventory" }
        form.filters.panel method="get" action="/inventory" {
            label { "Search" input type="search" name="q" value=(q.q) size="70"
                placeholder="lifecycle:deployed owner:platform-team seen:<7d alert:open port:3389 segment:198.18.10.0/24"; }
            @if q.sort != AssetOrder::Tag { input type="hidden" name="sort" value=(q.sort.as_str()); }
            @if q.desc { input type="hidden" name="dir" value="desc"; }
            @if q.cols != DEFAULT_COLUMNS { @for c in &q.cols { input type="hidden" name="col" value=(c); } }
            button type="submit" { "Search" }
            a href="/inventory" { "Clear" }
            a href=(q.link("/inventory.csv", |v| { v.page = 1; v.after = None; })) hx-boost="false" { "Export CSV" }
            @if signed.may(crate::people::Role::Admin) { a href="/import" { "Import…" } }
        }
        details.panel #columns {
            summary { "Columns" }
            form method="get" action="/inventory" {
                input type="hidden" name="q" value=(q.q);
                @if q.sort != AssetOrder::Tag { input type="hidden" name="sort" value=(q.sort.as_str()); }
                @if q.desc { input type="hidden" name="dir" value="desc"; }
                @for (key, label, _) in COLUMNS {
                    label.check { input type="checkbox" name="col" value=(key) checked[q.cols.contains(key)]; " " (label) }
                }
                button type="submit" { "Show" }
            }
        }
        (super::saved::panel(&signed, &saved, "inventory", &super::saved::keepable(raw.as_deref())))
        @if let Some(e) = &error { div.error role="alert" { (e) } }
        @if let Some(n) = total { p.muted { (n) " asset(s) match" } }
        table #assets {
            thead { tr {
                (heading(&q, "Tag", Some(AssetOrder::Tag)))
                @for c in &q.cols {
                    @if let Some((_, label, order)) = COLUMNS.iter().find(|x| x.0 == *c) { (heading(&q, label, *order)) }
                }
            } }
            tbody {
                @for a in &assets {
                    tr {
                        td.mono { a href={ "/inventory/" (percent(&a.tag)) } { (text(&a.tag)) } }
                        @for c in &q.cols { (cell(c, a)) }
                    }
                }
                @if assets.is_empty() { tr { td colspan=(q.cols.len() + 1) .muted { "No asset matches. An empty register is filled with censusd register import FILE." } } }
            }
        }
        div.pager {
            @if let Some(f) = first { a href=(f) { "« First page" } }
            @if let Some(n) = next { a href=(n) rel="next" { "Next page »" } }
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
            dt { "Hardware" } dd {
                @let hw = [a.manufacturer.as_str(), a.model.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
                @if hw.is_empty() && a.serial.is_empty() { span.muted { "not recorded" } }
                (text(&hw)) @if !a.serial.is_empty() { " · serial " span.mono { (text(&a.serial)) } }
            }
            dt { "Location" } dd { @if a.location.is_empty() { span.muted { "not recorded" } } @else { (text(&a.location)) } }
            @if !a.external_ids.is_empty() { dt { "External ids" } dd.mono { (text(&a.external_ids.join(", "))) } }
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
        @if signed.may(crate::people::Role::Analyst) {
            p.actions { a href={ "/inventory/" (percent(&asset.tag)) "/edit" } { "Edit this asset" } }
        }
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
        @if let Some(c) = whois.as_ref().and_then(|w| w.retirement.as_ref()) {
            h2 { "Retirement" }
            div.panel #retirement {
                p {
                    @if c.verified {
                        "Retirement verified" @if let Some(at) = c.verified_ms { " " (when(at)) } "."
                    } @else { "Retirement not verified yet." }
                }
                (super::lifecycle::steps(c))
            }
        }
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
