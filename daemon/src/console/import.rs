//! Register import from the console (admins): upload a CSV or JSON file,
//! read the dry-run plan (added, changed field by field, retired, every bad
//! row and column named), then confirm or cancel. Nothing is stored before
//! the confirmation; the upload waits in memory meanwhile (at most
//! [`MAX_PENDING`] uploads of [`MAX_UPLOAD_BYTES`] each, for
//! [`PENDING_MS`]), and only the person who uploaded it can apply it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::form::Form;
use super::layout::{self, Nav, text};
use super::session::{Signed, cross_site};
use crate::api::AppState;
use crate::app::register::Format;
use crate::people::Role;
use crate::register::csv::CsvOptions;
use crate::register::patch::ImportOptions;
use crate::register::plan::ImportPlan;
use crate::store::now_ms;

/// Largest file the console takes (the API takes up to `max_body_mb`).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Uploads waiting for a confirmation per person (their oldest goes first).
pub const MAX_PENDING: usize = 8;
/// How long an upload waits for its confirmation, ms.
pub const PENDING_MS: i64 = 15 * 60_000;

struct Pending {
    person: String,
    bytes: Vec<u8>,
    format: Format,
    opts: ImportOptions,
    at_ms: i64,
    /// The plan the person was shown: the confirmation applies exactly this, or nothing.
    plan: ImportPlan,
}

static PENDING: Mutex<Option<HashMap<String, Pending>>> = Mutex::new(None);

fn park(p: Pending) -> String {
    let id = crate::auth::new_token().map(|(t, _)| t).unwrap_or_default();
    let mut g = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    map.retain(|_, v| v.at_ms > p.at_ms - PENDING_MS);
    // Each person's own uploads make room for their next one: one admin's
    // uploads never push out another's plan.
    while map.values().filter(|v| v.person == p.person).count() >= MAX_PENDING {
        let oldest =
            map.iter().filter(|(_, v)| v.person == p.person).min_by_key(|(_, v)| v.at_ms).map(|(k, _)| k.clone());
        let Some(oldest) = oldest else { break };
        map.remove(&oldest);
    }
    map.insert(id.clone(), p);
    id
}

fn take(id: &str, person: &str, now: i64) -> Option<Pending> {
    let mut g = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.as_mut()?;
    let ok = map.get(id).is_some_and(|p| p.person == person && p.at_ms > now - PENDING_MS);
    if ok { map.remove(id) } else { None }
}

fn upload_form(signed: &Signed, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { div.error role="alert" { (e) } }
        form.panel method="post" action="/import" enctype="multipart/form-data" hx-boost="false" {
            input type="hidden" name="csrf" value=(signed.csrf);
            dl.facts {
                dt { "File" } dd { input type="file" name="file" accept=".csv,.json,text/csv,application/json" required; }
                dt { "Format" } dd { select name="format" { option value="csv" { "CSV" } option value="json" { "JSON" } } }
                dt { "CSV delimiter" } dd { input type="text" name="delimiter" value="," size="3" maxlength="3"; }
                dt { "Each row is the whole asset" } dd { input type="checkbox" name="replace" value="true"; " (columns the file leaves out are reset)" }
                dt { "Empty cells clear" } dd { input type="checkbox" name="clear_empty" value="true"; }
            }
            div.actions { button type="submit" { "Show what would change" } }
        }
    }
}

fn page(signed: &Signed, status: StatusCode, body: Markup) -> Response {
    layout::respond(
        status,
        layout::page("Import", Nav::Inventory, Some(signed), html! { h1 { "Import the register" } (body) }),
    )
}

/// `GET /import` (admins).
pub async fn form(signed: Signed) -> Response {
    if let Err(r) = signed.require(Role::Admin) {
        return r.into_response();
    }
    page(&signed, StatusCode::OK, upload_form(&signed, None))
}

fn plan_view(signed: &Signed, plan: &ImportPlan, id: &str) -> Markup {
    html! {
        div.panel #plan {
            p { strong { (plan.added.len()) } " to add, " strong { (plan.changed.len()) } " to change (" (plan.retired.len()) " of them retired), "
                (plan.unchanged) " unchanged. Nothing is stored until you confirm." }
            @if !plan.added.is_empty() { h2 { "Added" } p.mono { (text(&plan.added.join(", "))) } }
            @if !plan.retired.is_empty() { h2 { "Retired" } p.mono { (text(&plan.retired.join(", "))) } }
            @if !plan.changed.is_empty() {
                h2 { "Changed" }
                table #changes {
                    thead { tr { th { "Asset" } th { "Field" } th { "Before" } th { "After" } } }
                    tbody {
                        @for c in &plan.changed {
                            @for f in &c.changes {
                                tr { td.mono { (text(&c.tag)) } td { (text(&f.field)) }
                                     td.mono { (text(&f.before.to_string())) } td.mono { (text(&f.after.to_string())) } }
                            }
                        }
                    }
                }
            }
            div.actions {
                form method="post" action="/import/apply" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    input type="hidden" name="upload" value=(id);
                    button type="submit" { "Confirm the import" }
                }
                a href="/import" { "Cancel" }
            }
        }
    }
}

/// `POST /import` (multipart): the dry run.
pub async fn plan(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = signed.require(Role::Admin) {
        return r.into_response();
    }
    if cross_site(&headers) {
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "Form refused",
            "The form was posted from another site.",
            Some(&signed),
        );
    }
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(mut field)) => {
                let name = field.name().unwrap_or("").to_string();
                let mut buf = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) if buf.len() + c.len() <= MAX_UPLOAD_BYTES => buf.extend_from_slice(&c),
                        Ok(Some(_)) => {
                            let why = format!("The file is larger than {} MB.", MAX_UPLOAD_BYTES >> 20);
                            return page(&signed, StatusCode::PAYLOAD_TOO_LARGE, upload_form(&signed, Some(&why)));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            return page(&signed, StatusCode::BAD_REQUEST, upload_form(&signed, Some(&e.to_string())));
                        }
                    }
                }
                fields.insert(name, buf);
            }
            Ok(None) => break,
            Err(e) => return page(&signed, StatusCode::BAD_REQUEST, upload_form(&signed, Some(&e.to_string()))),
        }
    }
    let bytes = fields.remove("file").unwrap_or_default();
    let get = |k: &str| fields.get(k).map(|v| String::from_utf8_lossy(v).trim().to_string());
    if let Err(r) = signed.check_csrf(get("csrf").as_deref()) {
        return r.into_response();
    }
    if bytes.is_empty() {
        return page(&signed, StatusCode::BAD_REQUEST, upload_form(&signed, Some("Choose a file.")));
    }
    let format = match get("format").as_deref() {
        Some("json") => Format::Json,
        _ => {
            let d = get("delimiter").unwrap_or_else(|| ",".into());
            let delimiter = match CsvOptions::delimiter(if d.is_empty() { "," } else { &d }) {
                Ok(d) => d,
                Err(why) => return page(&signed, StatusCode::BAD_REQUEST, upload_form(&signed, Some(&why))),
            };
            Format::Csv(CsvOptions { delimiter })
        }
    };
    let opts = ImportOptions { replace: get("replace").is_some(), clear_empty: get("clear_empty").is_some() };
    let who = signed.who.clone();
    let b2 = bytes.clone();
    match state.run(move |r| crate::app::register::import(r, &b2, format, opts, true, &who)).await {
        Ok(plan) => {
            let id = park(Pending {
                person: signed.who.name.clone(),
                bytes,
                format,
                opts,
                at_ms: now_ms(),
                plan: plan.clone(),
            });
            page(&signed, StatusCode::OK, plan_view(&signed, &plan, &id))
        }
        Err(e) => {
            let details: Vec<String> = e
                .details
                .iter()
                .map(|d| {
                    let cell = |k: &str| {
                        d.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), String::from)).unwrap_or_default()
                    };
                    // The API's list: at most DETAILS_LISTED problems, then one counting the rest.
                    let message = crate::api::cut(&cell("message")).into_owned();
                    match d.get("row") {
                        Some(_) => format!("row {}, column {}: {message}", cell("row"), cell("column")),
                        None => message,
                    }
                })
                .collect();
            page(
                &signed,
                e.status,
                html! {
                    div.error role="alert" #problems {
                        (crate::api::cut(&e.message))
                        ul { @for d in &details { li { (text(d)) } } }
                    }
                    (upload_form(&signed, None))
                },
            )
        }
    }
}

/// `POST /import/apply`: store the confirmed upload.
pub async fn apply(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let form = match Form::parse_as(&headers, &body, &signed, Role::Admin) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let Some(p) = take(form.one("upload").unwrap_or(""), &signed.who.name, now_ms()) else {
        let why =
            "This upload is gone (applied already, older than 15 minutes, or someone else's): upload the file again.";
        return page(&signed, StatusCode::CONFLICT, upload_form(&signed, Some(why)));
    };
    // The register may have changed since the dry run: apply only if the plan is still the one shown.
    let (who, bytes) = (signed.who.clone(), p.bytes.clone());
    let now_plan = state.run(move |r| crate::app::register::import(r, &bytes, p.format, p.opts, true, &who)).await;
    match now_plan {
        Ok(plan) if plan == p.plan => {}
        Ok(plan) => {
            let id = park(Pending { plan: plan.clone(), at_ms: now_ms(), ..p });
            let why = "The register changed since the dry run. Here is what the import would do now; confirm again to apply it.";
            return page(
                &signed,
                StatusCode::CONFLICT,
                html! { div.error role="alert" { (why) } (plan_view(&signed, &plan, &id)) },
            );
        }
        Err(e) => return page(&signed, e.status, upload_form(&signed, Some(&e.message))),
    }
    let who = signed.who.clone();
    let out = state.run(move |r| crate::app::register::import(r, &p.bytes, p.format, p.opts, false, &who)).await;
    match out {
        Ok(plan) => page(
            &signed,
            StatusCode::OK,
            html! {
                div.flash role="status" #applied {
                    "Imported: " (plan.added.len()) " added, " (plan.changed.len()) " changed (" (plan.retired.len()) " retired), "
                    (plan.unchanged) " unchanged."
                }
                p { a href="/inventory" { "Open the inventory" } }
            },
        ),
        Err(e) => page(&signed, e.status, upload_form(&signed, Some(&e.message))),
    }
}
