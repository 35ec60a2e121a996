//! The review queue (the console's home): live alerts, newest first,
//! grouped by kind, with filters; analysts select many and acknowledge or
//! resolve them in one go — one use-case call, so one audit record, per alert.

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::Form;
use super::layout::{self, Nav, ago, text, when};
use super::session::Signed;
use crate::alerts::{Alert, AlertAction, AlertFilter, AlertKind, AlertState};
use crate::api::AppState;
use crate::client::seg as percent;
use crate::people::Role;
use crate::store::now_ms;

/// Alerts one page of the queue shows (the next page follows by cursor).
pub const QUEUE_PAGE: usize = 50;
/// Most alerts one bulk action takes.
pub const BULK_LIMIT: usize = 500;

/// The queue's filters, as the filter form sends them (every field optional; empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    /// `open`, `acknowledged` or empty (both).
    #[serde(default)]
    pub state: String,
    /// An alert kind (`unknown-asset`, …) or empty.
    #[serde(default)]
    pub kind: String,
    /// Least severity (`low` … `critical`) or empty.
    #[serde(default)]
    pub severity: String,
    /// A segment name, or empty.
    #[serde(default)]
    pub segment: String,
    /// Words that must all appear in the subject, summary, address, MAC, tag or vendor.
    #[serde(default)]
    pub q: String,
    /// Last seen within this many days (empty: any).
    #[serde(default)]
    pub days: String,
    /// Page on from alerts older than this id (the "next page" link's cursor).
    #[serde(default)]
    pub before: String,
    /// The outcome of the last bulk action, shown once.
    #[serde(default)]
    pub done: Option<String>,
}

impl QueueQuery {
    /// The store's filter for these fields, or the field that is not valid and why.
    ///
    /// # Errors
    /// `(field, why)` for a kind, severity or state that is not one, a day
    /// count or cursor that is not a number.
    ///
    /// `suppressed_too`: `state=suppressed` is allowed and no state means
    /// every live alert, suppressed ones included (the devices page).
    pub fn filter(&self, now: i64, suppressed_too: bool) -> Result<AlertFilter, (&'static str, String)> {
        fn word<T: std::str::FromStr<Err = String>>(
            v: &str,
            field: &'static str,
        ) -> Result<Option<T>, (&'static str, String)> {
            let v = v.trim();
            if v.is_empty() { Ok(None) } else { v.parse().map(Some).map_err(|e| (field, e)) }
        }
        let state = match word::<AlertState>(&self.state, "state")? {
            s @ (Some(AlertState::Open | AlertState::Acknowledged) | None) => s,
            s @ Some(AlertState::Suppressed) if suppressed_too => s,
            Some(other) => return Err(("state", format!("`{other}` alerts are not listed here"))),
        };
        let number = |v: &str, field: &'static str| -> Result<Option<i64>, (&'static str, String)> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<i64>()
                .map(Some)
                .map_err(|_| (field, format!("`{}` is not a whole number", v.chars().take(20).collect::<String>())))
        };
        let at_least_one = |v: Option<i64>, field: &'static str| match v {
            Some(n) if n < 1 => Err((field, format!("{n} is less than 1"))),
            v => Ok(v),
        };
        Ok(AlertFilter {
            state,
            kind: word(&self.kind, "kind")?,
            include_suppressed: Some(suppressed_too),
            min_severity: word(&self.severity, "severity")?,
            segment: Some(self.segment.trim()).filter(|s| !s.is_empty()).map(str::to_string),
            seen_since_ms: at_least_one(number(&self.days, "days")?, "days")?.map(|d| now - d.min(36_500) * 86_400_000),
            words: self.q.split_whitespace().map(str::to_string).collect(),
            before_id: at_least_one(number(&self.before, "before")?, "before")?,
            limit: Some(u32::try_from(QUEUE_PAGE + 1).unwrap_or(u32::MAX)),
            ..Default::default()
        })
    }

    /// This query's link on `path`, on from `before` (the next page) or from the newest.
    pub fn link(&self, path: &str, before: Option<i64>) -> String {
        let mut url = form_urlencoded::Serializer::new(format!("{path}?"));
        for (k, v) in [
            ("state", &self.state),
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("segment", &self.segment),
            ("q", &self.q),
            ("days", &self.days),
        ] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        if let Some(id) = before {
            url.append_pair("before", &id.to_string());
        }
        url.finish()
    }
}

/// One page of the alerts `q` asks for on the page at `path` (the queue;
/// the devices page, with suppressed alerts and `kind` fixed): at most
/// [`QUEUE_PAGE`], how many match in all, and the next page's link.
///
/// # Errors
/// The page to answer with: a filter refused by name, a store failure.
pub async fn load_page(
    state: &AppState,
    signed: &Signed,
    q: &QueueQuery,
    (now, path, kind): (i64, &str, Option<AlertKind>),
) -> Result<(Vec<Alert>, u64, Option<String>), Response> {
    let mut filter = q.filter(now, kind.is_some()).map_err(|(field, why)| {
        let msg = format!("Filter `{field}`: {why}.");
        layout::error_page(StatusCode::BAD_REQUEST, "Filter refused", &msg, Some(signed))
    })?;
    if kind.is_some() {
        filter.kind = kind;
    }
    let loaded =
        state.blocking(move |s| Ok::<_, crate::store::StoreError>((s.alerts(&filter)?, s.alert_count(&filter)?))).await;
    let (mut shown, total) = loaded.map_err(|e| layout::error_page(e.status, "Error", &e.message, Some(signed)))?;
    let more = shown.len() > QUEUE_PAGE;
    shown.truncate(QUEUE_PAGE);
    let next = more.then(|| shown.last().map(|a| q.link(path, Some(a.id)))).flatten();
    Ok((shown, total, next))
}

/// `GET /`: the review queue.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<QueueQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let now = now_ms();
    let (shown, total, next) = match load_page(&state, &signed, &q, (now, "/", None)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut kinds: Vec<AlertKind> = shown.iter().map(|a| a.kind).collect();
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    let analyst = signed.may(Role::Analyst);
    let paged = !q.before.trim().is_empty();
    let saved = super::saved::mine(&state, &signed).await;
    let body = html! {
        h1 { "Review queue" }
        @if let Some(done) = q.done.as_deref().and_then(outcome) { div.flash role="status" { (done) } }
        (filters(&q))
        (super::saved::panel(&signed, &saved, "queue", &super::saved::keepable(raw.as_deref())))
        form method="post" action="/alerts/act" id="queue" {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if analyst {
                div.actions {
                    button type="submit" name="action" value="ack" { "Acknowledge selected" }
                    input type="text" name="note" placeholder="Note (kept with a resolution)" maxlength="500" size="40";
                    button.secondary type="submit" name="action" value="resolve" { "Resolve selected" }
                    button.secondary type="submit" formaction="/devices/adopt" { "Adopt selected…" }
                    button.secondary type="submit" formaction="/devices/link" { "Link selected…" }
                    button.secondary type="submit" formaction="/alerts/suppress-selected" { "Suppress selected…" }
                    button.secondary type="submit" formaction="/alerts/dispose-selected"
                        data-confirm="Set the assets of the selected should-be-retired alerts disposed, and resolve the alerts? Past unmet retirement steps (still answering, no wipe attested) only with the note as the reason." { "Mark selected disposed" }
                }
            }
            p.muted {
                (total) " alert(s) match"
                @if total as usize > shown.len() { "; " (shown.len()) " on this page" }
                @if paged { " — " a href=(q.link("/", None)) { "back to the newest" } }
            }
            table #alerts {
                thead { tr {
                    @if analyst { th { input type="checkbox" data-select-all aria-label="Select all"; } }
                    th { "Severity" } th { "Subject" } th { "What" } th { "State" }
                    th { "First seen" } th { "Last seen" } th { "Agent" } th { "Segment" }
                    @if analyst { th { "Act" } }
                } }
                tbody {
                    @for kind in &kinds {
                        tr.group { th colspan="10" { (kind.as_str()) " (" (shown.iter().filter(|a| a.kind == *kind).count()) " on this page)" } }
                        @for a in shown.iter().filter(|a| a.kind == *kind) { (row(a, analyst, now)) }
                    }
                    @if shown.is_empty() { tr { td colspan="10" .muted { "Nothing to review with these filters." } } }
                }
            }
            @if let Some(next) = next { p.pager { a href=(next) rel="next" { "Older alerts →" } } }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Review queue", Nav::Queue, Some(&signed), body))
}

/// The banner for an action's outcome, from the code its redirect carries
/// (`ack.3.0`, `resolve.2.1`, `rule.7.5`): the page writes the words, so a
/// crafted link cannot put text of its own in an official-looking banner.
pub fn outcome(code: &str) -> Option<String> {
    let mut parts = code.split('.');
    let (what, a, b) = (parts.next()?, parts.next()?.parse::<u64>().ok()?, parts.next()?.parse::<u64>().ok()?);
    if parts.next().is_some() {
        return None;
    }
    let refused = if b > 0 { format!(" {b} could not be (resolved already, or gone).") } else { String::new() };
    match what {
        "ack" => Some(format!("Acknowledged {a} alert(s).{refused}")),
        "resolve" => Some(format!("Resolved {a} alert(s).{refused}")),
        "rule" => Some(format!("Suppression rule {a} saved; it holds {b} live alert(s).")),
        "adopt" => Some(format!("Adopted {a} device(s) as register assets.{refused}")),
        "link" => Some(format!("Linked {a} device(s) to the asset.{refused}")),
        "rules" => Some(format!("Saved {a} suppression rule(s); they hold {b} live alert(s).")),
        "dispose" => Some(format!("Marked {a} asset(s) disposed.{refused}")),
        _ => None,
    }
}

fn filters(q: &QueueQuery) -> Markup {
    let kinds = AlertKind::ALL.iter().map(|k| k.as_str());
    html! {
        form.filters.panel method="get" action="/" {
            label { "State" select name="state" {
                @for (v, l) in [("", "open and acknowledged"), ("open", "open"), ("acknowledged", "acknowledged")] {
                    option value=(v) selected[q.state == v] { (l) }
                }
            } }
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for k in kinds { option value=(k) selected[q.kind == k] { (k) } }
            } }
            label { "Severity at least" select name="severity" {
                @for v in ["", "low", "medium", "high", "critical"] {
                    option value=(v) selected[q.severity == v] { @if v.is_empty() { "any" } @else { (v) } }
                }
            } }
            (filters_tail(q, "/"))
        }
    }
}

/// The filters the queue and the devices page share: segment, age, words; submit and clear.
pub fn filters_tail(q: &QueueQuery, path: &str) -> Markup {
    html! {
        label { "Segment" input type="text" name="segment" value=(q.segment) size="10"; }
        label { "Seen within (days)" input type="number" name="days" min="1" max="3650" value=(q.days) size="4"; }
        label { "Search" input type="search" name="q" value=(q.q) placeholder="address, MAC, vendor, name…" size="24"; }
        button type="submit" { "Filter" }
        a href=(path) { "Clear" }
    }
}

fn row(a: &Alert, analyst: bool, now: i64) -> Markup {
    let sev = a.severity.as_str();
    let st = a.state.as_str();
    html! {
        tr data-alert=(a.id) {
            @if analyst { td { input type="checkbox" name="id" value=(a.id) aria-label={ "Select alert " (a.id) }; } }
            td { span class={ "sev sev-" (sev) } { (sev) } }
            td.mono {
                @if let Some(tag) = &a.tag { a href={ "/inventory/" (percent(tag)) } { (text(tag)) } br; }
                (text(a.ip.as_deref().unwrap_or(&a.subject)))
                @if let Some(mac) = &a.mac { br; span.muted { (text(mac)) } }
            }
            td { (text(&a.summary)) @if let Some(v) = &a.vendor { br; span.muted { (text(v)) } } }
            td { span class={ "state state-" (st) } { (st) } @if let Some(by) = &a.acked_by { br; span.muted { "by " (text(by)) } } }
            td title=(when(a.first_seen_ms)) { (ago(a.first_seen_ms, now)) " ago" }
            td title=(when(a.last_seen_ms)) { (ago(a.last_seen_ms, now)) " ago" }
            td { (text(a.agent.as_deref().unwrap_or(""))) }
            td { (text(a.segment.as_deref().unwrap_or(""))) }
            @if analyst {
                td.act {
                    @if a.kind == AlertKind::UnknownAsset {
                        a href={ "/alerts/" (a.id) "/adopt" } { "Adopt" } " · "
                        a href={ "/alerts/" (a.id) "/link" } { "Link" } " · "
                    }
                    @if a.kind == AlertKind::ShouldBeRetired {
                        button.link type="submit" formaction={ "/alerts/" (a.id) "/retire" }
                            data-confirm="Set this asset disposed in the register and resolve the alert?" { "Mark disposed" } " · "
                    }
                    a href={ "/alerts/" (a.id) "/suppress" } { "Suppress…" }
                }
            }
        }
    }
}

/// `POST /alerts/act`: acknowledge or resolve the selected alerts (analysts).
pub async fn act(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let form = match Form::parse_as(&headers, &body, &signed, Role::Analyst) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let action = match form.one("action") {
        Some("ack") => AlertAction::Acknowledge,
        Some("resolve") => AlertAction::Resolve,
        _ => return layout::error_page(StatusCode::BAD_REQUEST, "Form refused", "No action chosen.", Some(&signed)),
    };
    let ids: Result<Vec<i64>, _> = form.all("id").map(str::parse::<i64>).collect();
    let Ok(mut ids) = ids else {
        return layout::error_page(
            StatusCode::BAD_REQUEST,
            "Form refused",
            "An alert id is not a number.",
            Some(&signed),
        );
    };
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > BULK_LIMIT {
        let why = format!("Select between 1 and {BULK_LIMIT} alerts.");
        return layout::error_page(StatusCode::BAD_REQUEST, "Nothing selected", &why, Some(&signed));
    }
    let note = form.one("note").map(str::to_string);
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        let why = "`note`: at most 500 characters; nothing was changed.";
        return layout::error_page(StatusCode::BAD_REQUEST, "Form refused", why, Some(&signed));
    }
    let who = signed.who.clone();
    let outcome = state
        .run(move |r| {
            let (mut done, mut refused) = (0usize, 0usize);
            for id in ids {
                match crate::app::alerts::act(r, id, action, &who, note.as_deref(), now_ms()) {
                    Ok(Some(_)) => done += 1,
                    Ok(None) | Err(crate::store::StoreError::Refused(_)) => refused += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, crate::store::StoreError>((done, refused))
        })
        .await;
    match outcome {
        Ok((done, refused)) => {
            let verb = if action == AlertAction::Acknowledge { "ack" } else { "resolve" };
            Redirect::to(&format!("/?done={verb}.{done}.{refused}")).into_response()
        }
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}
