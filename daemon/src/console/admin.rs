//! Admin pages: the audit log (filters, paging newest first) and agents
//! (add with segments — the token is shown once, on the page that added it —
//! and revoke). Both go through the application layer, so what an admin does
//! here is audited as it is through the API.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::form::Form;
use super::layout::{self, Nav, text, when};
use super::session::Signed;
use crate::api::AppState;
use crate::audit::{AuditAction, AuditFilter};
use crate::client::seg as percent;
use crate::people::Role;
use crate::store::now_ms;

/// Records an audit page shows.
pub const AUDIT_PAGE: usize = 100;

/// Filters of the audit page (empty: any).
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Who.
    #[serde(default)]
    pub actor: String,
    /// What (`asset.update`, …).
    #[serde(default)]
    pub action: String,
    /// To what (`asset:SRV-1`, `asset:*`).
    #[serde(default)]
    pub subject: String,
    /// Records older than this id.
    pub before: Option<i64>,
}

fn brief(v: &Option<serde_json::Value>) -> String {
    let s = v.as_ref().map(ToString::to_string).unwrap_or_default();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

/// `GET /audit` (admins).
pub async fn audit(State(state): State<AppState>, signed: Signed, Query(q): Query<AuditQuery>) -> Response {
    if let Err(r) = signed.require(Role::Admin) {
        return r.into_response();
    }
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let action = match some(&q.action).map(|a| a.parse::<AuditAction>()).transpose() {
        Ok(a) => a,
        Err(why) => return layout::error_page(StatusCode::BAD_REQUEST, "Filter refused", &why, Some(&signed)),
    };
    let filter = AuditFilter {
        actor: some(&q.actor),
        action,
        subject: some(&q.subject),
        before_id: q.before,
        limit: AUDIT_PAGE + 1,
        ..Default::default()
    };
    let mut records = match state.blocking(move |s| s.audit(&filter)).await {
        Ok(r) => r,
        Err(e) => return layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    };
    let more = records.len() > AUDIT_PAGE;
    records.truncate(AUDIT_PAGE);
    let next = format!(
        "/audit?actor={}&action={}&subject={}&before={}",
        percent(&q.actor),
        percent(&q.action),
        percent(&q.subject),
        records.last().map_or(0, |r| r.id)
    );
    let body = html! {
        h1 { "Audit log" }
        form.filters.panel method="get" action="/audit" {
            label { "Who" input type="text" name="actor" value=(q.actor); }
            label { "What" select name="action" {
                option value="" { "any" }
                @for a in AuditAction::ALL { option value=(a.as_str()) selected[q.action == a.as_str()] { (a.as_str()) } }
            } }
            label { "Subject" input type="text" name="subject" value=(q.subject) placeholder="asset:SRV-1 or asset:*"; }
            button type="submit" { "Filter" }
            a href="/audit" { "Clear" }
        }
        table #audit {
            thead { tr { th { "When" } th { "Who" } th { "What" } th { "Subject" } th { "Before" } th { "After" } } }
            tbody {
                @for r in &records {
                    tr {
                        td { (when(r.entry.at_ms)) }
                        td { (text(&r.entry.actor)) }
                        td { (r.entry.action.as_str()) }
                        td.mono { (text(&r.entry.subject)) }
                        td.mono { (text(&brief(&r.entry.before))) }
                        td.mono { (text(&brief(&r.entry.after))) }
                    }
                }
                @if records.is_empty() { tr { td colspan="6" .muted { "No records match." } } }
            }
        }
        @if more { div.pager { a href=(next) { "Older »" } } }
    };
    layout::respond(StatusCode::OK, layout::page("Audit log", Nav::Audit, Some(&signed), body))
}

fn agents_page(
    signed: &Signed,
    status: &crate::app::query::Status,
    shown: Option<(&str, &str)>,
    error: Option<&str>,
) -> Response {
    let now = now_ms();
    let body = html! {
        h1 { "Agents" }
        @if let Some((name, token)) = shown {
            div.flash role="status" #new-token {
                "Agent " strong { (text(name)) } " added. Its token, shown this once — put it in the agent's token file: "
                br; code.mono { (token) }
            }
        }
        @if let Some(e) = error { div.error role="alert" { (e) } }
        table #agents {
            thead { tr { th { "Agent" } th { "Segments" } th { "Last sweep" } th { "Last complete sweep" } th { "State" } th {} } }
            tbody {
                @for a in &status.agents {
                    tr {
                        (super::dashboard::agent_cells(a, now))
                        td {
                            @if !a.revoked {
                                form method="post" action={ "/agents/" (percent(&a.name)) "/revoke" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    button.link type="submit" data-confirm={ "Revoke agent " (a.name) "'s token? Its deliveries stop at once." } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an agent" }
        form.filters.panel method="post" action="/agents" {
            input type="hidden" name="csrf" value=(signed.csrf);
            label { "Name (its agent.id)" input type="text" name="name" required pattern="[A-Za-z0-9._-]{1,64}"; }
            label { "Segments (CIDRs, comma-separated)" input type="text" name="segments" required size="40" placeholder="198.18.0.0/24"; }
            button type="submit" { "Add" }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Agents", Nav::Agents, Some(signed), body))
}

async fn load_status(state: &AppState, signed: &Signed) -> Result<crate::app::query::Status, Response> {
    signed.require(Role::Admin).map_err(IntoResponse::into_response)?;
    state
        .run(|r| crate::app::query::status(r, now_ms()))
        .await
        .map_err(|e| layout::error_page(e.status, "Error", &e.message, Some(signed)))
}

/// `GET /agents` (admins).
pub async fn agents(State(state): State<AppState>, signed: Signed) -> Response {
    match load_status(&state, &signed).await {
        Ok(status) => agents_page(&signed, &status, None, None),
        Err(r) => r,
    }
}

/// `POST /agents`: add an agent; the page that answers shows its token once.
pub async fn add_agent(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let form = match Form::parse_as(&headers, &body, &signed, Role::Admin) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let name = form.one("name").unwrap_or("").to_string();
    let segments: Vec<String> =
        form.one("segments").unwrap_or("").split([',', ' ']).filter(|s| !s.is_empty()).map(String::from).collect();
    let who = signed.who.clone();
    let added = state.run(move |r| crate::app::agents::add(r.store().as_ref(), &who, &name, &segments, now_ms())).await;
    let status = match load_status(&state, &signed).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match added {
        Ok((name, token)) => {
            let mut r = agents_page(&signed, &status, Some((&name, &token)), None);
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Err(e) => {
            let mut r = agents_page(&signed, &status, None, Some(&e.message));
            *r.status_mut() = e.status;
            r
        }
    }
}

/// `POST /agents/{name}/revoke`
pub async fn revoke_agent(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::parse_as(&headers, &body, &signed, Role::Admin) {
        return r.into_response();
    }
    let who = signed.who.clone();
    match state.run(move |r| crate::app::agents::revoke(r.store().as_ref(), &who, &name, now_ms())).await {
        Ok(()) => Redirect::to("/agents").into_response(),
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}
