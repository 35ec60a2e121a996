//! Acting on one alert from the queue (analysts): adopt an unknown device
//! as a register asset (prefilled from what was seen), link it to an
//! existing asset (its MAC and names added), suppress alerts like it (with a
//! preview of what the rule holds), or mark a should-be-retired asset
//! disposed. Each goes through the application layer — the asset change and
//! the alert's resolution are each one audit record under the person.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::form::Form;
use super::layout::{self, Nav, text};
use super::session::Signed;
use crate::alerts::{Alert, AlertKind, AlertState, SuppressionInput};
use crate::api::AppState;
use crate::client::seg as percent;
use crate::people::Role;
use crate::register::model::{asset_from_json, host_name_ok};
use crate::register::{AssetType, Lifecycle};
use crate::store::{StoreError, now_ms};

/// Load alert `id` (with its evidence) for a signed-in analyst.
async fn analyst_alert(state: &AppState, signed: &Signed, id: i64) -> Result<Alert, Response> {
    signed.require(Role::Analyst).map_err(IntoResponse::into_response)?;
    match state.blocking(move |s| s.alert(id)).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(layout::error_page(
            StatusCode::NOT_FOUND,
            "No such alert",
            &format!("Alert {id} does not exist."),
            Some(signed),
        )),
        Err(e) => Err(layout::error_page(e.status, "Error", &e.message, Some(signed))),
    }
}

/// A posted form about alert `id`: checked (CSRF, origin, analyst) and the alert loaded.
async fn posted(
    state: &AppState,
    signed: &Signed,
    id: i64,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Form, Alert), Response> {
    let form = Form::parse_as(headers, body, signed, Role::Analyst).map_err(IntoResponse::into_response)?;
    let alert = analyst_alert(state, signed, id).await?;
    if alert.state == AlertState::Resolved {
        let why = format!("Alert {id} is resolved already; act on a live alert, or edit the asset itself.");
        return Err(layout::error_page(StatusCode::CONFLICT, "Resolved already", &why, Some(signed)));
    }
    Ok((form, alert))
}

fn split(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("").split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

pub(super) fn select(name: &str, options: &[&str], chosen: &str) -> Markup {
    html! { select name=(name) { @for o in options { option value=(o) selected[*o == chosen] { (o) } } } }
}

fn summary(a: &Alert) -> Markup {
    html! { div.panel { p { strong { (a.kind.as_str()) } " — " (text(&a.summary)) } } }
}

/// The adopt form's fields: prefilled from the alert, or as last posted.
pub(super) struct Draft {
    pub(super) tag: String,
    pub(super) name: String,
    pub(super) asset_type: String,
    pub(super) owner: String,
    pub(super) lifecycle: String,
    macs: String,
    ips: String,
    hostnames: String,
}

/// The names a device announced, bare (evidence writes them `name (source)`),
/// each one a valid host name for the register.
pub(super) fn device_names(a: &Alert) -> Vec<String> {
    let mut names: Vec<String> = a
        .evidence
        .as_ref()
        .map(|e| e.hosts().to_vec())
        .unwrap_or_default()
        .iter()
        .flat_map(|h| h.names.clone())
        .map(|n| n.split(" (").next().unwrap_or("").trim().trim_end_matches('.').to_lowercase())
        .filter(|n| host_name_ok(n))
        .collect();
    names.sort();
    names.dedup();
    names
}

impl Draft {
    pub(super) fn from_alert(a: &Alert) -> Draft {
        let hosts = a.evidence.as_ref().map(|e| e.hosts().to_vec()).unwrap_or_default();
        let names = device_names(a);
        let mac = a.mac.clone().unwrap_or_default();
        let vendor = a.vendor.clone().unwrap_or_default();
        let name = names.first().cloned().unwrap_or_else(|| format!("{vendor} device").trim().to_string());
        let tag = format!("NEW-{}", mac.replace(':', "").to_uppercase());
        Draft {
            tag: if mac.is_empty() { String::new() } else { tag },
            name,
            asset_type: "endpoint".into(),
            owner: String::new(),
            lifecycle: "deployed".into(),
            macs: mac,
            ips: hosts.iter().map(|h| h.ip.clone()).collect::<Vec<_>>().join(", "),
            hostnames: names.join(", "),
        }
    }

    fn from_form(f: &Form) -> Draft {
        let g = |k: &str| f.one(k).unwrap_or("").to_string();
        Draft {
            tag: g("tag"),
            name: g("name"),
            asset_type: g("type"),
            owner: g("owner"),
            lifecycle: g("lifecycle"),
            macs: g("macs"),
            ips: g("ips"),
            hostnames: g("hostnames"),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "tag": self.tag, "name": self.name, "type": self.asset_type, "owner": self.owner,
            "lifecycle": self.lifecycle, "macs": split(Some(&self.macs)), "ips": split(Some(&self.ips)),
            "hostnames": split(Some(&self.hostnames)),
        })
    }
}

fn adopt_page(signed: &Signed, a: &Alert, d: &Draft, status: StatusCode, errors: &[String]) -> Response {
    let types: Vec<&str> = AssetType::ALL.iter().map(|t| t.as_str()).collect();
    let stages: Vec<&str> = Lifecycle::ALL.iter().map(|t| t.as_str()).collect();
    let body = html! {
        h1 { "Adopt as an asset" }
        (summary(a))
        @for e in errors { div.error role="alert" { (e) } }
        form.panel method="post" action={ "/alerts/" (a.id) "/adopt" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            dl.facts {
                dt { label for="tag" { "Asset tag" } } dd { input #tag type="text" name="tag" value=(d.tag) required; }
                dt { label for="name" { "Name" } } dd { input #name type="text" name="name" value=(d.name) size="40"; }
                dt { "Type" } dd { (select("type", &types, &d.asset_type)) }
                dt { label for="owner" { "Owner" } } dd { input #owner type="text" name="owner" value=(d.owner) placeholder="person or team"; }
                dt { "Lifecycle" } dd { (select("lifecycle", &stages, &d.lifecycle)) }
                dt { label for="macs" { "MACs" } } dd { input #macs type="text" name="macs" value=(d.macs) size="40"; }
                dt { label for="ips" { "Addresses" } } dd { input #ips type="text" name="ips" value=(d.ips) size="40"; }
                dt { label for="hostnames" { "Host names" } } dd { input #hostnames type="text" name="hostnames" value=(d.hostnames) size="40"; }
            }
            div.actions { button type="submit" { "Add to the register and resolve" } a href="/" { "Cancel" } }
        }
    };
    layout::respond(status, layout::page("Adopt", Nav::Queue, Some(signed), body))
}

/// `GET /alerts/{id}/adopt`: the form, prefilled from the device's evidence.
pub async fn adopt_form(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Response {
    match analyst_alert(&state, &signed, id).await {
        Ok(a) => adopt_page(&signed, &a, &Draft::from_alert(&a), StatusCode::OK, &[]),
        Err(r) => r,
    }
}

/// `POST /alerts/{id}/adopt`: create the asset, resolve the alert, show the asset.
pub async fn adopt(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, alert) = match posted(&state, &signed, id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let draft = Draft::from_form(&form);
    let asset = match asset_from_json(draft.to_json()) {
        Ok(a) => a,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            return adopt_page(&signed, &alert, &draft, StatusCode::BAD_REQUEST, &errors);
        }
    };
    let s2 = signed.clone();
    let out = state
        .run(move |r| {
            let note = format!("adopted as asset {}", asset.tag);
            let stored = crate::app::alerts::resolve_with_asset(r, &s2.who, (&asset, true), id, &note, now_ms())?;
            Ok::<_, StoreError>(stored)
        })
        .await;
    match out {
        Ok(stored) => Redirect::to(&format!("/inventory/{}", percent(&stored.tag))).into_response(),
        Err(e) => adopt_page(&signed, &alert, &draft, e.status, &[e.message]),
    }
}

fn link_page(signed: &Signed, a: &Alert, tag: &str, status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Link to an existing asset" }
        (summary(a))
        @if let Some(e) = error { div.error role="alert" { (e) } }
        form.panel method="post" action={ "/alerts/" (a.id) "/link" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            p { "The device's MAC " span.mono { (text(a.mac.as_deref().unwrap_or("(none)"))) } " and its names are added to the asset." }
            label { "Asset tag " input type="text" name="tag" value=(tag) required; }
            div.actions { button type="submit" { "Link and resolve" } a href="/" { "Cancel" } }
        }
    };
    layout::respond(status, layout::page("Link", Nav::Queue, Some(signed), body))
}

/// Add the device of alert `a` to `asset`: its MAC and its names, where new.
pub(super) fn link_into(asset: &mut crate::register::Asset, a: &Alert) {
    if let Some(mac) = a.mac.as_deref().and_then(|m| m.parse().ok())
        && !asset.macs.contains(&mac)
    {
        asset.macs.push(mac);
    }
    for n in device_names(a) {
        if !asset.hostnames.iter().any(|h| h.eq_ignore_ascii_case(&n)) {
            asset.hostnames.push(n);
        }
    }
}

/// `GET /alerts/{id}/link`
pub async fn link_form(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Response {
    match analyst_alert(&state, &signed, id).await {
        Ok(a) => link_page(&signed, &a, "", StatusCode::OK, None),
        Err(r) => r,
    }
}

/// `POST /alerts/{id}/link`: add the device's MAC and names to the asset, resolve the alert.
pub async fn link(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, alert) = match posted(&state, &signed, id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tag = form.one("tag").unwrap_or("").to_string();
    let (s2, a2, t2) = (signed.clone(), alert.clone(), tag.clone());
    let out = state
        .run(move |r| {
            let Some(mut asset) = r.store().asset(&t2)? else {
                return Err(StoreError::NotFound(format!("asset `{t2}`")));
            };
            link_into(&mut asset, &a2);
            let note = format!("linked to asset {}", asset.tag);
            let stored = crate::app::alerts::resolve_with_asset(r, &s2.who, (&asset, false), id, &note, now_ms())?;
            Ok(stored)
        })
        .await;
    match out {
        Ok(stored) => Redirect::to(&format!("/inventory/{}", percent(&stored.tag))).into_response(),
        Err(e) => link_page(&signed, &alert, &tag, e.status, Some(&e.message)),
    }
}

fn rule_input(f: Option<&Form>, a: &Alert) -> SuppressionInput {
    let g = |k: &str| f.and_then(|f| f.one(k)).map(String::from);
    let kind = match f {
        Some(f) => f.one("kind").and_then(|k| serde_json::from_value::<AlertKind>(json!(k)).ok()),
        None => Some(a.kind),
    };
    SuppressionInput {
        kind,
        vendor: if f.is_some() { g("vendor") } else { a.vendor.clone() },
        segment: g("segment"),
        network: g("network"),
        mac_prefix: g("mac_prefix"),
        tag: g("tag"),
        reason: g("reason").unwrap_or_default(),
        // Prefilled 30 days; a posted form says its own (empty is refused).
        expires_in: if f.is_some() {
            f.and_then(|f| f.field("expires_in")).unwrap_or("").to_string()
        } else {
            "30d".into()
        },
    }
}

fn suppress_page(
    signed: &Signed,
    a: &Alert,
    r: &SuppressionInput,
    preview: Option<usize>,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let kinds: Vec<&str> = std::iter::once("").chain(AlertKind::ALL.iter().map(|k| k.as_str())).collect();
    let kind = r.kind.map_or("", |k| k.as_str());
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        h1 { "Suppress alerts like this one" }
        (summary(a))
        @if let Some(e) = error { div.error role="alert" { (e) } }
        @if let Some(n) = preview { div.flash #preview role="status" { "This rule holds " (n) " live alert(s) now." } }
        form.panel method="post" action={ "/alerts/" (a.id) "/suppress" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            dl.facts {
                dt { "Kind" } dd { (select("kind", &kinds, kind)) }
                dt { "Vendor" } dd { input type="text" name="vendor" value=(v(&r.vendor)); }
                dt { "Segment" } dd { input type="text" name="segment" value=(v(&r.segment)); }
                dt { "Network (CIDR)" } dd { input type="text" name="network" value=(v(&r.network)); }
                dt { "MAC prefix" } dd { input type="text" name="mac_prefix" value=(v(&r.mac_prefix)); }
                dt { "Asset tag" } dd { input type="text" name="tag" value=(v(&r.tag)); }
                dt { "Reason" } dd { input type="text" name="reason" value=(r.reason) size="50" required; }
                dt { "Expires in" } dd { input type="text" name="expires_in" value=(r.expires_in) size="6"; " (e.g. 7d, at most 366d)" }
            }
            div.actions {
                button.secondary type="submit" name="action" value="preview" formnovalidate { "Preview" }
                button type="submit" name="action" value="save" { "Save the rule" }
                a href="/" { "Cancel" }
            }
        }
    };
    layout::respond(status, layout::page("Suppress", Nav::Queue, Some(signed), body))
}

/// `GET /alerts/{id}/suppress`: a rule prefilled with the alert's kind and vendor, and its preview.
pub async fn suppress_form(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Response {
    let a = match analyst_alert(&state, &signed, id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let input = rule_input(None, &a);
    let preview = preview(&state, &signed, &input).await;
    suppress_page(&signed, &a, &input, preview, StatusCode::OK, None)
}

/// How many live alerts the rule would hold (the reason is not needed to count).
async fn preview(state: &AppState, signed: &Signed, input: &SuppressionInput) -> Option<usize> {
    let mut input = input.clone();
    if input.reason.trim().is_empty() {
        input.reason = "preview".into();
    }
    let rule = input.validate(&signed.who.name, now_ms()).ok()?;
    state.run(move |r| crate::app::alerts::preview(r, &rule, now_ms())).await.ok()
}

/// `POST /alerts/{id}/suppress`: preview (`action=preview`) or store the rule.
pub async fn suppress(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a) = match posted(&state, &signed, id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let input = rule_input(Some(&form), &a);
    // A preview needs no reason (`preview` lends one to count with); saving does.
    let saving = form.one("action") == Some("save");
    let mut checked = input.clone();
    if !saving && checked.reason.trim().is_empty() {
        checked.reason = "preview".into();
    }
    if let Err((field, why)) = checked.validate(&signed.who.name, now_ms()) {
        let msg = format!("{field}: {why}");
        return suppress_page(&signed, &a, &input, None, StatusCode::BAD_REQUEST, Some(&msg));
    }
    if !saving {
        let n = preview(&state, &signed, &input).await;
        return suppress_page(&signed, &a, &input, n, StatusCode::OK, None);
    }
    let (who, i2) = (signed.who.clone(), input.clone());
    match state.run(move |r| crate::app::alerts::add_suppression(r, &who, i2, now_ms())).await {
        Ok(added) => Redirect::to(&format!("/?done=rule.{}.{}", added.rule.id, added.matching_alerts)).into_response(),
        Err(e) => suppress_page(&signed, &a, &input, None, e.status, Some(&e.message)),
    }
}

/// `POST /alerts/{id}/retire`: a should-be-retired asset is set disposed, and the alert resolved.
pub async fn retire(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a) = match posted(&state, &signed, id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The note is the reason to dispose past unmet retirement steps.
    let reason = form.one("note").map(str::to_string).filter(|n| !n.trim().is_empty());
    let Some(tag) = a.tag.clone().filter(|_| a.kind == AlertKind::ShouldBeRetired) else {
        return layout::error_page(
            StatusCode::BAD_REQUEST,
            "Not possible",
            "Only a should-be-retired alert's asset can be marked disposed here.",
            Some(&signed),
        );
    };
    let who = signed.who.clone();
    let out =
        state.run(move |r| crate::app::alerts::dispose_resolving(r, &who, &tag, id, reason.as_deref(), now_ms())).await;
    match out {
        Ok(stored) => Redirect::to(&format!("/inventory/{}", percent(&stored.tag))).into_response(),
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}
