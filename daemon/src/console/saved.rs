//! Saved searches per person: the review queue's, the devices page's and
//! the inventory's filters (search, sort, columns) saved under a name and
//! offered as links on that page. Anyone signed in keeps their own; a saved
//! search is the page's query string, checked as the page would check it
//! when it is saved, so a saved link never leads to a refused page.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::form::Form;
use super::layout::{self, text};
use super::session::Signed;
use crate::api::AppState;
use crate::store::{SavedQuery, now_ms};

/// Saved searches one person may keep.
pub const CAP: usize = 50;
/// Longest name, characters.
pub const NAME_MAX: usize = 60;
/// Longest saved query string, bytes.
pub const QUERY_MAX: usize = 2_000;

/// The pages a search can be saved for: (key, path).
const PAGES: &[(&str, &str)] = &[("queue", "/"), ("devices", "/devices"), ("inventory", "/inventory")];

/// Query keys that are a position or a message, not part of a search.
const TRANSIENT: &[&str] = &["done", "before", "after", "page"];

/// `raw` without its [`TRANSIENT`] keys: what saving this view keeps.
pub fn keepable(raw: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !TRANSIENT.contains(&k.as_ref()) && !v.is_empty() {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// Check `query` as page `page` would; the reason when it would refuse it.
fn check(page: &str, query: &str) -> Result<(), String> {
    match page {
        "inventory" => {
            let q = super::inventory::InventoryQuery::parse(Some(query)).map_err(|(f, why)| format!("`{f}`: {why}"))?;
            crate::register::search::AssetQuery::parse(&q.q).map(|_| ()).map_err(|e| e.to_string())
        }
        _ => {
            let uri: Uri = format!("/?{query}").parse().map_err(|_| "not a query string".to_string())?;
            let q = Query::<super::queue::QueueQuery>::try_from_uri(&uri).map_err(|e| e.body_text())?;
            q.filter(now_ms(), page == "devices").map(|_| ()).map_err(|(f, why)| format!("`{f}`: {why}"))
        }
    }
}

/// The saved searches of the signed-in person for `page`, and a form to save the current view.
pub fn panel(signed: &Signed, saved: &[SavedQuery], page: &str, current: &str) -> Markup {
    let path = PAGES.iter().find(|p| p.0 == page).map_or("/", |p| p.1);
    let mine: Vec<&SavedQuery> = saved.iter().filter(|s| s.page == page).collect();
    html! {
        details.panel #saved open[!mine.is_empty()] {
            summary { "Saved searches" @if !mine.is_empty() { " (" (mine.len()) ")" } }
            ul.saved {
                @for s in &mine {
                    li {
                        a href={ (path) "?" (s.query) } { (text(&s.name)) }
                        form.inline method="post" action="/saved/delete" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            input type="hidden" name="page" value=(page);
                            input type="hidden" name="name" value=(s.name);
                            button.link type="submit" aria-label={ "Delete " (s.name) } { "×" }
                        }
                    }
                }
            }
            form method="post" action="/saved" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="page" value=(page);
                input type="hidden" name="query" value=(current);
                label { "Save this view as " input type="text" name="name" maxlength=(NAME_MAX) required; }
                button.secondary type="submit" { "Save" }
            }
        }
    }
}

/// The signed-in person's saved searches (none when the store fails: the page still shows).
pub async fn mine(state: &AppState, signed: &Signed) -> Vec<SavedQuery> {
    let who = signed.who.name.clone();
    match state.blocking(move |s| s.saved_queries(&who)).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e.message, "saved searches not loaded");
            Vec::new()
        }
    }
}

fn refused(signed: &Signed, why: &str) -> Response {
    layout::error_page(StatusCode::BAD_REQUEST, "Search not saved", why, Some(signed))
}

/// `POST /saved` (`page`, `name`, `query`): save the view, then show it.
pub async fn save(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let form = match Form::parse(&headers, &body, &signed) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let Some(&(page, path)) = PAGES.iter().find(|p| Some(p.0) == form.one("page")) else {
        return refused(&signed, "`page`: not a page searches are saved for (queue, devices, inventory).");
    };
    let name = form.one("name").unwrap_or("").trim().to_string();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return refused(&signed, &format!("`name`: give 1 to {NAME_MAX} characters, no control characters."));
    }
    let query = keepable(form.one("query"));
    if query.len() > QUERY_MAX {
        return refused(&signed, &format!("`query`: longer than {QUERY_MAX} bytes."));
    }
    if let Err(why) = check(page, &query) {
        return refused(&signed, &format!("`query`: {}", text(&why)));
    }
    let saved = SavedQuery {
        person: signed.who.name.clone(),
        page: page.into(),
        name,
        query: query.clone(),
        saved_ms: now_ms(),
    };
    match state.blocking(move |s| s.save_query(&saved, CAP)).await {
        Ok(()) => Redirect::to(&format!("{path}?{query}")).into_response(),
        Err(e) => layout::error_page(e.status, "Search not saved", &e.message, Some(&signed)),
    }
}

/// `POST /saved/delete` (`page`, `name`): forget one of the person's saved searches.
pub async fn delete(State(state): State<AppState>, signed: Signed, headers: HeaderMap, body: Bytes) -> Response {
    let form = match Form::parse(&headers, &body, &signed) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let Some(&(page, path)) = PAGES.iter().find(|p| Some(p.0) == form.one("page")) else {
        return refused(&signed, "`page`: not a page searches are saved for (queue, devices, inventory).");
    };
    let (who, name) = (signed.who.name.clone(), form.one("name").unwrap_or("").to_string());
    match state.blocking(move |s| s.delete_saved_query(&who, page, &name)).await {
        Ok(_) => Redirect::to(path).into_response(),
        Err(e) => layout::error_page(e.status, "Error", &e.message, Some(&signed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_messages_are_not_saved() {
        assert_eq!(
            keepable(Some("q=dell&after=A-9&page=3&sort=name&done=ack.1.0&col=owner")),
            "q=dell&sort=name&col=owner"
        );
        assert_eq!(keepable(Some("kind=&q=a+b")), "q=a+b");
        assert_eq!(keepable(None), "");
    }

    #[test]
    fn a_query_the_page_would_refuse_is_not_saved() {
        assert!(check("inventory", "q=lifecycle%3Adeployed&sort=name").is_ok());
        assert!(check("inventory", "q=lifecycle%3Aretiredish").is_err());
        assert!(check("inventory", "sort=colour").is_err());
        assert!(check("queue", "kind=missing&days=7").is_ok());
        assert!(check("queue", "state=suppressed").is_err());
        assert!(check("devices", "state=suppressed").is_ok());
        assert!(check("queue", "days=soon").is_err());
    }
}
