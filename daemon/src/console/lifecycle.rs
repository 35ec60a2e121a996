//! The lifecycle page: what the deployment and retirement stages still
//! lack. Deployed assets missing an active owner, an expected service or a
//! presence on the network (the `deployment-incomplete` view,
//! [`crate::deployment`]), and every decommissioned or disposed asset's
//! retirement checklist with each step's state, evidence and date
//! ([`crate::retirement`]) — the same data as `censusd report
//! --deployments` and `--retirements`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::layout::{self, Nav, text, when};
use super::session::Signed;
use crate::api::AppState;
use crate::client::seg as percent;
use crate::retirement::Checklist;
use crate::store::now_ms;

/// One checklist's steps as a list: state, step, evidence and date.
pub fn steps(c: &Checklist) -> Markup {
    html! {
        ul.steps {
            @for s in &c.steps {
                li class={ "step step-" (s.state.as_str()) } {
                    span.step-state { (s.state.as_str()) }
                    span {
                        strong { (text(&s.step)) } ": " (text(&s.evidence))
                        @if let Some(at) = s.since_ms { " " span.muted { "(" (when(at)) ")" } }
                    }
                }
            }
            @if let Some(f) = &c.forced {
                li.step.step-forced {
                    "disposal forced by " (text(&f.by)) " " (when(f.at_ms)) ": " (text(&f.reason))
                }
            }
        }
    }
}

/// `GET /lifecycle`.
pub async fn page(State(state): State<AppState>, signed: Signed) -> Response {
    let now = now_ms();
    let loaded = state
        .run(move |r| {
            let deployments = crate::app::query::deployments(r, now)?;
            let retirements = crate::app::retirement::all(r, now)?;
            Ok::<_, crate::store::StoreError>((deployments, retirements))
        })
        .await;
    let (deployments, retirements) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    };
    let body = html! {
        h1 { "Lifecycle" }
        h2 { "Deployments incomplete" }
        p.muted { "Deployed assets without an active owner, an expected service or a presence on the network." }
        table #deployments {
            thead { tr { th { "Asset" } th { "Name" } th { "Owner" } th { "Missing" } } }
            tbody {
                @for d in &deployments {
                    tr {
                        td.mono { a href={ "/inventory/" (percent(&d.tag)) } { (text(&d.tag)) } }
                        td { (text(&d.name)) }
                        td { (text(&d.owner)) }
                        td { @for m in &d.missing { (text(m)) br; } }
                    }
                }
                @if deployments.is_empty() { tr { td colspan="4" .muted { "Every deployed asset is complete." } } }
            }
        }
        h2 { "Retirements" }
        p.muted { "Decommissioned and disposed assets, each step checked by Census where it can." }
        table #retirements {
            thead { tr { th { "Asset" } th { "Stage" } th { "Verified" } th { "Steps" } } }
            tbody {
                @for c in &retirements {
                    tr {
                        td { a.mono href={ "/inventory/" (percent(&c.tag)) } { (text(&c.tag)) } br; (text(&c.name)) }
                        td { (c.lifecycle) @if let Some(d) = c.since { " since " (d) } }
                        td {
                            @if c.verified {
                                "verified" @if let Some(at) = c.verified_ms { " " (when(at)) }
                            } @else { span.muted { "not yet" } }
                        }
                        td { (steps(c)) }
                    }
                }
                @if retirements.is_empty() { tr { td colspan="4" .muted { "No asset is decommissioned or disposed." } } }
            }
        }
    };
    layout::respond(StatusCode::OK, layout::page("Lifecycle", Nav::Lifecycle, Some(&signed), body))
}
