//! Bulk actions on a selection of alerts beyond acknowledge and resolve
//! (analysts): suppress each selected alert's subject (one rule per alert,
//! one reason and expiry for all, with a preview of what the rules hold),
//! and mark the assets of selected should-be-retired alerts disposed. The
//! selection is read by [`selected`], which the devices page shares.
//!
//! Each rule and each asset change goes through the application layer, so
//! each is its own audit record under the person, and each alert resolved
//! is one more.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::form::Form;
use super::layout::{self, Nav, text};
use super::session::Signed;
use crate::alerts::{Alert, AlertKind, AlertState, SuppressionInput};
use crate::api::AppState;
use crate::people::Role;
use crate::store::{StoreError, now_ms};

/// Most alerts one bulk action of this module (or the devices page) takes.
pub const BULK: usize = 100;

/// The selected alerts of a bulk form: checked (CSRF, origin, analyst),
/// between 1 and [`BULK`] ids, loaded; those that are resolved, gone or
/// not of `kinds` (any kind when empty) are named in the second list.
///
/// # Errors
/// The page to answer with: a refused form, no or too many ids, a bad id.
pub async fn selected(
    state: &AppState,
    signed: &Signed,
    (headers, body): (&HeaderMap, &[u8]),
    kinds: &[AlertKind],
) -> Result<(Form, Vec<Alert>, Vec<String>), Response> {
    let form = Form::parse_as(headers, body, signed, Role::Analyst).map_err(IntoResponse::into_response)?;
    let mut ids = Vec::new();
    for v in form.all("id") {
        let Ok(id) = v.parse::<i64>() else {
            let why = format!("`id`: `{}` is not an alert id.", v.chars().take(20).collect::<String>());
            return Err(layout::error_page(StatusCode::BAD_REQUEST, "Form refused", &why, Some(signed)));
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > BULK {
        let why = format!("Select between 1 and {BULK} alerts.");
        return Err(layout::error_page(StatusCode::BAD_REQUEST, "Nothing selected", &why, Some(signed)));
    }
    let loaded = state
        .blocking(move |s| ids.iter().map(|id| Ok((*id, s.alert(*id)?))).collect::<Result<Vec<_>, StoreError>>())
        .await
        .map_err(|e| layout::error_page(e.status, "Error", &e.message, Some(signed)))?;
    let (mut chosen, mut skipped) = (Vec::new(), Vec::new());
    for (id, a) in loaded {
        match a {
            None => skipped.push(format!("alert {id} does not exist")),
            Some(a) if a.state == AlertState::Resolved => skipped.push(format!("alert {id} is resolved already")),
            Some(a) if !kinds.is_empty() && !kinds.contains(&a.kind) => {
                skipped.push(format!("alert {id} is {}, not {}", a.kind.as_str(), kinds[0].as_str()));
            }
            Some(a) => chosen.push(a),
        }
    }
    Ok((form, chosen, skipped))
}

/// The rule that holds `a`'s subject and nothing else of its kind: its
/// asset, else its device's MAC, else its address; `None` when nothing names it.
fn rule_for(a: &Alert, reason: &str, expires_in: &str) -> Option<SuppressionInput> {
    let mut r = SuppressionInput {
        kind: Some(a.kind),
        reason: reason.to_string(),
        expires_in: expires_in.to_string(),
        ..Default::default()
    };
    if let Some(tag) = &a.tag {
        r.tag = Some(tag.clone());
    } else if let Some(mac) = &a.mac {
        r.mac_prefix = Some(mac.clone());
    } else if let Some(ip) = a.ip.as_deref().and_then(|i| i.parse::<std::net::IpAddr>().ok()) {
        r.network = Some(ipnet::IpNet::from(ip).to_string());
    } else {
        return None;
    }
    Some(r)
}

fn describe(r: &SuppressionInput) -> String {
    let what = r.tag.as_deref().or(r.mac_prefix.as_deref()).or(r.network.as_deref()).unwrap_or("");
    format!("{} at {what}", r.kind.map_or("any", |k| k.as_str()))
}

/// `POST /alerts/suppress-selected`: without `confirm`, the rules each
/// selected alert would get and how many live alerts they hold together;
/// with it, the rules are saved.
pub async fn suppress(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let (form, alerts, mut skipped) = match selected(&state, &signed, (&headers, &body), &[]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reason = form.one("reason").unwrap_or("").trim().to_string();
    // Prefilled 30 days on the first page; a posted expiry is the person's (empty is refused).
    let expires_in = form.field("expires_in").unwrap_or("30d").to_string();
    let mut rules = Vec::new();
    for a in &alerts {
        if a.state == AlertState::Suppressed {
            skipped.push(format!(
                "alert {} is held by suppression rule {} already",
                a.id,
                a.suppressed_by.unwrap_or(0)
            ));
            continue;
        }
        match rule_for(a, if reason.is_empty() { "preview" } else { &reason }, &expires_in) {
            Some(r) => rules.push((a.id, r)),
            None => skipped.push(format!("alert {}: nothing names its subject for a rule", a.id)),
        }
    }
    if rules.is_empty() {
        return page(
            &signed,
            &rules,
            &skipped,
            (&reason, &expires_in),
            None,
            Some("no selected alert can take a rule"),
        );
    }
    let checked: Result<Vec<_>, _> =
        rules.iter().map(|(id, r)| r.clone().validate(&signed.who.name, now_ms()).map(|v| (*id, v))).collect();
    let checked = match checked {
        Ok(c) => c,
        Err((field, why)) => {
            return page(&signed, &rules, &skipped, (&reason, &expires_in), None, Some(&format!("{field}: {why}")));
        }
    };
    if form.one("confirm").is_none() || reason.is_empty() {
        let rules_now: Vec<_> = checked.into_iter().map(|(_, r)| r).collect();
        let held = state.run(move |r| crate::app::alerts::preview_all(r, &rules_now, now_ms())).await.ok();
        let error =
            (form.one("confirm").is_some() && reason.is_empty()).then_some("reason: give a reason for the rules");
        return page(&signed, &rules, &skipped, (&reason, &expires_in), held, error);
    }
    let who = signed.who.clone();
    let inputs: Vec<SuppressionInput> = rules.into_iter().map(|(_, r)| r).collect();
    let out = state
        .run(move |r| {
            let (mut saved, mut held) = (0usize, 0usize);
            for input in inputs {
                let added = crate::app::alerts::add_suppression(r, &who, input, now_ms())?;
                saved += 1;
                held += added.matching_alerts;
            }
            Ok::<_, crate::app::alerts::RuleError>((saved, held))
        })
        .await;
    match out {
        Ok((saved, held)) => Redirect::to(&format!("/?done=rules.{saved}.{held}")).into_response(),
        Err(e) => layout::error_page(e.status, "Rules not saved", &e.message, Some(&signed)),
    }
}

fn page(
    signed: &Signed,
    rules: &[(i64, SuppressionInput)],
    skipped: &[String],
    (reason, expires_in): (&str, &str),
    held: Option<usize>,
    error: Option<&str>,
) -> Response {
    let status = if rules.is_empty() || error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        h1 { "Suppress " (rules.len()) " selected alert subject(s)" }
        @if let Some(e) = error { div.error role="alert" { (e) } }
        @for s in skipped { div.error role="alert" { "Left out: " (text(s)) } }
        @if let Some(n) = held { div.flash #preview role="status" { "These rules hold " (n) " live alert(s) now." } }
        form.panel method="post" action="/alerts/suppress-selected" {
            input type="hidden" name="csrf" value=(signed.csrf);
            ul #rules { @for (id, r) in rules { li { input type="hidden" name="id" value=(id); "Alert " (id) ": " (text(&describe(r))) } } }
            label { "Reason " input type="text" name="reason" value=(reason) size="50" required; }
            label { "Expires in " input type="text" name="expires_in" value=(expires_in) size="6"; " (e.g. 7d, at most 366d)" }
            div.actions {
                button.secondary type="submit" formnovalidate { "Preview" }
                button type="submit" name="confirm" value="1" { "Save the rules" }
                a href="/" { "Cancel" }
            }
        }
    };
    layout::respond(status, layout::page("Suppress selected", Nav::Queue, Some(signed), body))
}

/// `POST /alerts/dispose-selected`: the assets of the selected
/// should-be-retired alerts are set disposed, and each alert resolved.
pub async fn dispose(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let (form, alerts, skipped) =
        match selected(&state, &signed, (&headers, &body), &[AlertKind::ShouldBeRetired]).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    // The note is the reason to dispose past unmet retirement steps.
    let reason = form.one("note").map(str::to_string).filter(|n| !n.trim().is_empty());
    let s2 = signed.clone();
    let out = state
        .run(move |r| {
            // Without a reason, every asset must pass before any is disposed (all or nothing).
            if reason.is_none() {
                for a in &alerts {
                    let Some(tag) = &a.tag else { continue };
                    let Some(before) = r.store().asset(tag)? else { continue };
                    let mut after = before.clone();
                    after.lifecycle = crate::register::Lifecycle::Disposed;
                    crate::app::retirement::check_disposal(r, &before, &after, None, &s2.who, now_ms())?;
                }
            }
            let mut done = 0usize;
            for a in &alerts {
                let Some(tag) = &a.tag else { continue };
                match crate::app::alerts::dispose_resolving(r, &s2.who, tag, a.id, reason.as_deref(), now_ms()) {
                    Ok(_) => done += 1,
                    Err(StoreError::NotFound(_)) => {} // deleted meanwhile: nothing to dispose
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, StoreError>(done)
        })
        .await;
    match out {
        Ok(done) => Redirect::to(&format!("/?done=dispose.{done}.{}", skipped.len())).into_response(),
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(tag: Option<&str>, mac: Option<&str>, ip: Option<&str>) -> Alert {
        let mut a: Alert = serde_json::from_value(serde_json::json!({
            "id": 1, "kind": "unknown-asset", "subject": "device:x", "state": "open", "severity": "medium",
            "summary": "s", "first_seen_ms": 0, "last_seen_ms": 0, "opened_ms": 0, "updated_ms": 0, "updates": 0,
            "reopened": 0, "clear_count": 0, "rev": 0
        }))
        .unwrap();
        (a.tag, a.mac, a.ip) = (tag.map(Into::into), mac.map(Into::into), ip.map(Into::into));
        a
    }

    #[test]
    fn each_rule_names_its_subject_most_specifically() {
        let r = rule_for(&alert(Some("SRV-1"), Some("00:1b:21:00:00:01"), None), "r", "7d").unwrap();
        assert_eq!((r.tag.as_deref(), r.mac_prefix.as_deref()), (Some("SRV-1"), None));
        let r = rule_for(&alert(None, Some("00:1b:21:00:00:01"), Some("198.18.0.1")), "r", "7d").unwrap();
        assert_eq!(r.mac_prefix.as_deref(), Some("00:1b:21:00:00:01"));
        let r = rule_for(&alert(None, None, Some("198.18.0.1")), "r", "7d").unwrap();
        assert_eq!(r.network.as_deref(), Some("198.18.0.1/32"));
        assert!(rule_for(&alert(None, None, None), "r", "7d").is_none());
        assert_eq!(r.kind, Some(AlertKind::UnknownAsset));
        assert!(r.validate("ana", 0).is_ok(), "a rule the store takes");
    }
}
