//! Editing an asset from its page (analysts): the register fields people
//! keep by hand — name, type, owner, department, lifecycle stage and since
//! when, criticality, addresses, MACs, host names, expected segment, end of
//! support. Licences and expected services are kept as they are (the
//! register import edits those).
//!
//! The form carries a fingerprint of the asset as it was shown; a save
//! over a record someone changed since is refused (409) with the current
//! record, so one person's edit never silently undoes another's. The save
//! goes through [`crate::app::register::update`]: one audit record with
//! the record before and after.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::Value;

use super::form::Form;
use super::layout::{self, Nav, text};
use super::review::select;
use super::session::Signed;
use crate::api::AppState;
use crate::client::seg as percent;
use crate::people::Role;
use crate::register::model::asset_from_json;
use crate::register::{Asset, AssetType, Criticality, Lifecycle};
use crate::store::now_ms;

/// The fields the form edits: (form and JSON name, label, a list).
const FIELDS: &[(&str, &str, bool)] = &[
    ("name", "Name", false),
    ("owner", "Owner", false),
    ("department", "Department", false),
    ("lifecycle_since", "Lifecycle since (YYYY-MM-DD)", false),
    ("ips", "Addresses", true),
    ("macs", "MACs", true),
    ("hostnames", "Host names", true),
    ("expected_segment", "Expected segment (CIDR)", false),
    ("support_end", "Support until (YYYY-MM-DD)", false),
    ("serial", "Serial number", false),
    ("manufacturer", "Manufacturer", false),
    ("model", "Model", false),
    ("location", "Location", false),
    ("external_ids", "External ids (SYSTEM:ID)", true),
];

/// A fingerprint of the asset as stored (SHA-256 of its JSON, hex).
fn fingerprint(a: &Asset) -> String {
    let json = serde_json::to_vec(a).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &json).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn json_text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            items.iter().filter_map(|i| i.as_str().map(String::from)).collect::<Vec<_>>().join(", ")
        }
        _ => String::new(),
    }
}

fn form_page(signed: &Signed, a: &Asset, shown: &Value, status: StatusCode, errors: &[String]) -> Response {
    let types: Vec<&str> = AssetType::ALL.iter().map(|t| t.as_str()).collect();
    let stages: Vec<&str> = Lifecycle::ALL.iter().map(|t| t.as_str()).collect();
    let levels: Vec<&str> = Criticality::ALL.iter().map(|t| t.as_str()).collect();
    let body = html! {
        h1 { "Edit " (text(&a.tag)) }
        @for e in errors { div.error role="alert" { (e) } }
        form.panel method="post" action={ "/inventory/" (percent(&a.tag)) "/edit" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="fingerprint" value=(fingerprint(a));
            dl.facts {
                dt { "Type" } dd { (select("type", &types, &json_text(shown, "type"))) }
                dt { "Lifecycle" } dd { (select("lifecycle", &stages, &json_text(shown, "lifecycle"))) }
                dt { "Criticality" } dd { (select("criticality", &levels, &json_text(shown, "criticality"))) }
                @for (key, label, list) in FIELDS {
                    dt { label for=(key) { (label) } }
                    dd { input id=(key) type="text" name=(key) value=(json_text(shown, key)) size="50"
                        placeholder=[list.then_some("comma-separated")]; }
                }
            }
            div.actions {
                button type="submit" { "Save" }
                a href={ "/inventory/" (percent(&a.tag)) } { "Cancel" }
            }
        }
    };
    layout::respond(status, layout::page(&format!("Edit {}", a.tag), Nav::Inventory, Some(signed), body))
}

async fn load(state: &AppState, signed: &Signed, tag: &str) -> Result<Asset, Response> {
    signed.require(Role::Analyst).map_err(IntoResponse::into_response)?;
    let t = tag.to_string();
    match state.blocking(move |s| s.asset(&t)).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            let why = format!("No asset has the tag `{}`.", text(tag));
            Err(layout::error_page(StatusCode::NOT_FOUND, "No such asset", &why, Some(signed)))
        }
        Err(e) => Err(layout::error_page(e.status, "Error", &e.message, Some(signed))),
    }
}

/// `GET /inventory/{tag}/edit`
pub async fn form(State(state): State<AppState>, signed: Signed, Path(tag): Path<String>) -> Response {
    match load(&state, &signed, &tag).await {
        Ok(a) => {
            let shown = serde_json::to_value(&a).unwrap_or_default();
            form_page(&signed, &a, &shown, StatusCode::OK, &[])
        }
        Err(r) => r,
    }
}

/// `POST /inventory/{tag}/edit`: validate, refuse a stale form, save.
pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Path(tag): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::parse_as(&headers, &body, &signed, Role::Analyst) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let current = match load(&state, &signed, &tag).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    // The stored record with the form's fields over it: what the form does not edit is kept.
    let mut edited = serde_json::to_value(&current).unwrap_or_default();
    for key in ["type", "lifecycle", "criticality"].into_iter().chain(FIELDS.iter().map(|f| f.0)) {
        // `field`, not `one`: an emptied field is a field cleared.
        let Some(v) = form.field(key) else { continue };
        let list = FIELDS.iter().any(|f| f.0 == key && f.2);
        edited[key] = if list {
            Value::Array(v.split([',', ' ', ';']).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect())
        } else if v.is_empty() && ["lifecycle_since", "expected_segment", "support_end"].contains(&key) {
            Value::Null
        } else {
            Value::String(v.into())
        };
    }
    if form.one("fingerprint") != Some(fingerprint(&current).as_str()) {
        let why = "Someone changed this asset since the form was opened; the form now shows the record as it is.";
        let shown = serde_json::to_value(&current).unwrap_or_default();
        return form_page(&signed, &current, &shown, StatusCode::CONFLICT, &[why.into()]);
    }
    let asset = match asset_from_json(edited.clone()) {
        Ok(a) => a,
        Err(errors) => {
            let errors = crate::api::listed_lines(errors.iter().map(|e| format!("{}: {}", e.field, e.message)));
            return form_page(&signed, &current, &edited, StatusCode::BAD_REQUEST, &errors);
        }
    };
    let who = signed.who.clone();
    match state.run(move |r| crate::app::register::update(r, &who, &asset, now_ms())).await {
        Ok(stored) => Redirect::to(&format!("/inventory/{}", percent(&stored.tag))).into_response(),
        Err(e) => form_page(&signed, &current, &edited, e.status, &[e.message]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_with_any_field() {
        let a = asset_from_json(
            serde_json::json!({ "tag": "A-1", "name": "x", "type": "server", "lifecycle": "deployed" }),
        )
        .unwrap();
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.owner = "ops".into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    #[test]
    fn list_and_text_fields_read_back_as_the_form_shows_them() {
        let v = serde_json::json!({ "ips": ["198.18.0.1", "198.18.0.2"], "name": "db", "support_end": null });
        assert_eq!(json_text(&v, "ips"), "198.18.0.1, 198.18.0.2");
        assert_eq!(json_text(&v, "name"), "db");
        assert_eq!(json_text(&v, "support_end"), "");
    }
}
