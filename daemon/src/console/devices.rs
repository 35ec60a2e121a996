//! The devices page and bulk adopt/link: observed devices that match no
//! register asset — the unknown-asset alerts reconciliation confirmed
//! (seen in enough sweeps), open, acknowledged or held by a suppression
//! rule — with the queue's filters; analysts select many and adopt each as
//! an asset (per-device tag and name, one owner, type and lifecycle for
//! all) or link them all to one existing asset (every MAC and name added).
//!
//! Each device goes through the same use cases as the one-alert forms of
//! [`super::review`]: one register change and one resolution per alert,
//! each an audit record under the person. A device that cannot be adopted
//! (a taken tag, an invalid name, resolved meanwhile) is reported by name;
//! the others go ahead.

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::layout::{self, Nav, ago, text, when};
use super::queue::QueueQuery;
use super::review::{Draft, device_names, link_into, select};
use super::session::Signed;
use crate::alerts::{Alert, AlertKind, Evidence};
use crate::api::AppState;
use crate::client::seg as percent;
use crate::people::Role;
use crate::register::model::asset_from_json;
use crate::register::{AssetType, Lifecycle};
use crate::store::{StoreError, now_ms};

/// `GET /devices`: unregistered devices, newest first, 50 a page.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<QueueQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let now = now_ms();
    let (shown, total, next) =
        match super::queue::load_page(&state, &signed, &q, (now, "/devices", Some(AlertKind::UnknownAsset))).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let analyst = signed.may(Role::Analyst);
    let saved = super::saved::mine(&state, &signed).await;
    let body = html! {
        h1 { "Devices" }
        p.muted { "Observed devices that match no asset in the register (confirmed over enough sweeps)." }
        @if let Some(done) = q.done.as_deref().and_then(super::queue::outcome) { div.flash role="status" { (done) } }
        (filters(&q))
        (super::saved::panel(&signed, &saved, "devices", &super::saved::keepable(raw.as_deref())))
        form method="post" action="/devices/adopt" id="devices" {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if analyst {
                div.actions {
                    button type="submit" { "Adopt selected…" }
                    button.secondary type="submit" formaction="/devices/link" { "Link selected to an asset…" }
                }
            }
            p.muted { (total) " device(s)" @if total as usize > shown.len() { "; " (shown.len()) " on this page" } }
            table #device-list {
                thead { tr {
                    @if analyst { th { input type="checkbox" data-select-all aria-label="Select all"; } }
                    th { "MAC" } th { "Vendor" } th { "Addresses" } th { "Names" } th { "Sightings" }
                    th { "First seen" } th { "Last seen" } th { "Segment" } th { "Alert" }
                } }
                tbody {
                    @for a in &shown { (row(a, analyst, now)) }
                    @if shown.is_empty() { tr { td colspan="10" .muted { "No unregistered device with these filters." } } }
                }
            }
            @if let Some(next) = next { p.pager { a href=(next) rel="next" { "Older devices →" } } }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Devices", Nav::Devices, Some(&signed), body))
}

fn filters(q: &QueueQuery) -> Markup {
    html! {
        form.filters.panel method="get" action="/devices" {
            label { "Alert" select name="state" {
                @for (v, l) in [("", "any"), ("open", "open"), ("acknowledged", "acknowledged"), ("suppressed", "suppressed")] {
                    option value=(v) selected[q.state == v] { (l) }
                }
            } }
            (super::queue::filters_tail(q, "/devices"))
        }
    }
}

fn row(a: &Alert, analyst: bool, now: i64) -> Markup {
    let (sightings, hosts) = match &a.evidence {
        Some(Evidence::UnknownAsset(u)) => (Some(u.sightings), u.hosts.as_slice()),
        _ => (None, &[][..]),
    };
    let st = a.state.as_str();
    html! {
        tr data-alert=(a.id) {
            @if analyst { td { input type="checkbox" name="id" value=(a.id) aria-label={ "Select device " (a.id) }; } }
            td.mono { (text(a.mac.as_deref().unwrap_or("—"))) }
            td { (text(a.vendor.as_deref().unwrap_or(""))) }
            td.mono {
                @for h in hosts { (text(&h.ip)) br; }
                @if hosts.is_empty() { (text(a.ip.as_deref().unwrap_or(""))) }
            }
            td { (text(&device_names(a).join(", "))) }
            td { @if let Some(n) = sightings { (n) } }
            td title=(when(a.first_seen_ms)) { (ago(a.first_seen_ms, now)) " ago" }
            td title=(when(a.last_seen_ms)) { (ago(a.last_seen_ms, now)) " ago" }
            td { (text(a.segment.as_deref().unwrap_or(""))) }
            td { span class={ "state state-" (st) } { (st) } }
        }
    }
}

fn outcome_page(signed: &Signed, title: &str, done: &[(i64, String)], failed: &[String]) -> Response {
    let status = if done.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        h1 { (title) }
        @if !done.is_empty() {
            div.flash role="status" { (done.len()) " done." }
            ul { @for (id, tag) in done { li { "Alert " (id) " → " a href={ "/inventory/" (percent(tag)) } { (text(tag)) } } } }
        }
        @if !failed.is_empty() {
            div.error role="alert" { (failed.len()) " could not be:" }
            ul #failed { @for f in &crate::api::listed_lines(failed.iter().cloned()) { li { (text(f)) } } }
        }
        p { a href="/devices" { "Back to the devices" } " · " a href="/" { "Review queue" } }
    };
    layout::respond(status, layout::page(title, Nav::Devices, Some(signed), body))
}

/// `POST /devices/adopt`: without `confirm`, the form (a tag and name per
/// device, prefilled from its evidence; one type, owner and lifecycle);
/// with it, each device becomes an asset and its alert is resolved.
pub async fn adopt(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let (form, devices, skipped) =
        match super::bulk::selected(&state, &signed, (&headers, &body), &[AlertKind::UnknownAsset]).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let common = |k: &str, default: &str| form.one(k).unwrap_or(default).to_string();
    let (asset_type, owner, lifecycle) =
        (common("type", "endpoint"), common("owner", ""), common("lifecycle", "deployed"));
    if form.one("confirm").is_none() {
        return adopt_form(&signed, &devices, &skipped, (&asset_type, &owner, &lifecycle));
    }
    let mut failed = skipped;
    let mut drafts = Vec::new();
    for a in &devices {
        let mut d = Draft::from_alert(a);
        d.tag = form.one(&format!("tag-{}", a.id)).unwrap_or(&d.tag).trim().to_string();
        d.name = form.one(&format!("name-{}", a.id)).unwrap_or(&d.name).trim().to_string();
        (d.asset_type, d.owner, d.lifecycle) = (asset_type.clone(), owner.clone(), lifecycle.clone());
        match asset_from_json(d.to_json()) {
            Ok(asset) => drafts.push((a.id, asset)),
            Err(errors) => failed.extend(errors.iter().map(|e| format!("alert {}: {}: {}", a.id, e.field, e.message))),
        }
    }
    // One tag for two devices: refused before anything is stored.
    let mut tags: Vec<&str> = drafts.iter().map(|(_, a)| a.tag.as_str()).collect();
    tags.sort_unstable();
    if let Some(w) = tags.windows(2).find(|w| w[0] == w[1]) {
        let why = format!("tag: `{}` is given to more than one device; nothing was stored", w[0]);
        let mut r = adopt_form(&signed, &devices, &[why], (&asset_type, &owner, &lifecycle));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    let s2 = signed.clone();
    let out = state
        .run(move |r| {
            let (mut done, mut failed) = (Vec::new(), Vec::new());
            for (id, asset) in drafts {
                match crate::app::alerts::resolve_with_asset(
                    r,
                    &s2.who,
                    (&asset, true),
                    id,
                    &format!("adopted as asset {}", asset.tag),
                    now_ms(),
                ) {
                    Ok(stored) => {
                        done.push((id, stored.tag));
                    }
                    Err(StoreError::Conflict(m)) => failed.push(format!("alert {id}: already in the register: {m}")),
                    Err(StoreError::Refused(m)) => failed.push(format!("alert {id}: {m}")),
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, StoreError>((done, failed))
        })
        .await;
    match out {
        Ok((done, more)) if failed.is_empty() && more.is_empty() => {
            Redirect::to(&format!("/devices?done=adopt.{}.0", done.len())).into_response()
        }
        Ok((done, more)) => {
            failed.extend(more);
            outcome_page(&signed, "Adopted as assets", &done, &failed)
        }
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}

fn adopt_form(
    signed: &Signed,
    devices: &[Alert],
    skipped: &[String],
    (ty, owner, stage): (&str, &str, &str),
) -> Response {
    let types: Vec<&str> = AssetType::ALL.iter().map(|t| t.as_str()).collect();
    let stages: Vec<&str> = Lifecycle::ALL.iter().map(|t| t.as_str()).collect();
    let body = html! {
        h1 { "Adopt " (devices.len()) " device(s) as assets" }
        @for s in skipped { div.error role="alert" { "Left out: " (text(s)) } }
        form.panel method="post" action="/devices/adopt" {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="confirm" value="1";
            div.filters {
                label { "Type " (select("type", &types, ty)) }
                label { "Owner " input type="text" name="owner" value=(owner) placeholder="person or team"; }
                label { "Lifecycle " (select("lifecycle", &stages, stage)) }
            }
            table #adopt-list {
                thead { tr { th { "MAC" } th { "Vendor" } th { "Asset tag" } th { "Name" } } }
                tbody {
                    @for a in devices {
                        @let d = Draft::from_alert(a);
                        tr {
                            td.mono { input type="hidden" name="id" value=(a.id); (text(a.mac.as_deref().unwrap_or("—"))) }
                            td { (text(a.vendor.as_deref().unwrap_or(""))) }
                            td { input type="text" name={ "tag-" (a.id) } value=(d.tag) required aria-label="Asset tag"; }
                            td { input type="text" name={ "name-" (a.id) } value=(d.name) size="30" aria-label="Name"; }
                        }
                    }
                }
            }
            div.actions { button type="submit" { "Add to the register and resolve" } a href="/devices" { "Cancel" } }
        }
    };
    let status = if devices.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    layout::respond(status, layout::page("Adopt devices", Nav::Devices, Some(signed), body))
}

/// `POST /devices/link`: without `tag`, the form asking for the asset;
/// with it, every selected device's MAC and names are added to that asset
/// (one register change per device) and each alert is resolved.
pub async fn link(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let (form, devices, skipped) =
        match super::bulk::selected(&state, &signed, (&headers, &body), &[AlertKind::UnknownAsset]).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let tag = form.one("tag").unwrap_or("").trim().to_string();
    if tag.is_empty() || form.one("confirm").is_none() {
        return link_form(&signed, &devices, &skipped, &tag);
    }
    let (s2, t2, d2) = (signed.clone(), tag.clone(), devices.clone());
    let out = state
        .run(move |r| {
            let mut done = Vec::new();
            for a in &d2 {
                let Some(mut asset) = r.store().asset(&t2)? else {
                    return Err(StoreError::NotFound(format!("asset `{t2}`")));
                };
                link_into(&mut asset, a);
                crate::app::alerts::resolve_with_asset(
                    r,
                    &s2.who,
                    (&asset, false),
                    a.id,
                    &format!("linked to asset {t2}"),
                    now_ms(),
                )?;
                done.push((a.id, t2.clone()));
            }
            Ok::<_, StoreError>(done)
        })
        .await;
    match out {
        Ok(_) if skipped.is_empty() => Redirect::to(&format!("/inventory/{}", percent(&tag))).into_response(),
        Ok(done) => outcome_page(&signed, "Linked to an asset", &done, &skipped),
        Err(e) => {
            let mut r = link_form(&signed, &devices, &[e.message], &tag);
            *r.status_mut() = e.status;
            r
        }
    }
}

fn link_form(signed: &Signed, devices: &[Alert], notes: &[String], tag: &str) -> Response {
    let body = html! {
        h1 { "Link " (devices.len()) " device(s) to an existing asset" }
        @for s in notes { div.error role="alert" { (text(s)) } }
        form.panel method="post" action="/devices/link" {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="confirm" value="1";
            p { "Every MAC and name below is added to the asset, and each device's alert resolved." }
            ul {
                @for a in devices {
                    li.mono { input type="hidden" name="id" value=(a.id);
                        (text(a.mac.as_deref().unwrap_or("—"))) " " (text(&device_names(a).join(", "))) }
                }
            }
            label { "Asset tag " input type="text" name="tag" value=(tag) required; }
            div.actions { button type="submit" { "Link and resolve" } a href="/devices" { "Cancel" } }
        }
    };
    let status = if devices.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    layout::respond(status, layout::page("Link devices", Nav::Devices, Some(signed), body))
}
