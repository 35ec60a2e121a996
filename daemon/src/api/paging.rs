//! Paging of list endpoints: `limit` and an opaque `cursor`.
//!
//! Every list answers a JSON array, as before paging existed, so clients
//! that read one page keep working. When more follow, the response carries
//! the next page's address the way GitHub's API does (RFC 8288):
//!
//! ```text
//! Link: </api/v1/assets?limit=100&cursor=asset.53525f2d31>; rel="next"
//! Census-Next-Cursor: asset.53525f2d31
//! ```
//!
//! A cursor is the list's name and the hex of the last key served: the
//! next page starts after that key (keyset paging), so items added or
//! removed meanwhile never shift a page. A cursor from another list, or
//! one that does not decode, is refused with 400 naming `cursor`; a
//! `limit` that is not a number in range, with 400 naming `limit`.

use axum::Json;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiError;

/// The response header carrying the next page's cursor alone.
pub const NEXT_CURSOR: &str = "census-next-cursor";

/// `limit` and `cursor` as sent (checked by [`PageQuery::page`]).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1,000 by default).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
    /// The previous page's `Census-Next-Cursor` (empty: the first page).
    pub cursor: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items per page, at least 1.
    pub limit: usize,
    /// Serve the items after this key (the list's own key: a tag, a name, a zero-padded id).
    pub after: Option<String>,
}

impl PageQuery {
    /// Check against `list` (the cursor's prefix), the default and the largest `limit`.
    ///
    /// # Errors
    /// 400 naming `limit` or `cursor`.
    pub fn page(&self, list: &str, default: usize, max: usize) -> Result<Page, ApiError> {
        let limit = match self.limit.as_deref() {
            None => default,
            Some(l) => match l.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(ApiError::bad_field("limit", format!("a number from 1 to {max}"))),
            },
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode(list, c).ok_or_else(|| {
                ApiError::bad_field("cursor", format!("not a cursor of this list ({list}); pass a Census-Next-Cursor"))
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// The cursor of `list` for the item with `key`.
pub fn encode(list: &str, key: &str) -> String {
    let mut s = String::with_capacity(list.len() + 1 + key.len() * 2);
    s.push_str(list);
    s.push('.');
    for b in key.as_bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn decode(list: &str, cursor: &str) -> Option<String> {
    let hex = cursor.strip_prefix(list)?.strip_prefix('.')?;
    if hex.len() % 2 != 0 || hex.len() > 2048 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// An id as a key that sorts as the id does.
pub fn id_key(id: i64) -> String {
    format!("{:020}", id.max(0))
}

/// One page of `items`, already sorted by `key` ascending: those after
/// the page's key, at most its limit; with the next page's key when more follow.
pub fn slice<T>(items: Vec<T>, key: impl Fn(&T) -> String, page: &Page) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> =
        items.into_iter().filter(|t| page.after.as_ref().is_none_or(|a| key(t).as_str() > a.as_str())).collect();
    let more = rest.len() > page.limit;
    rest.truncate(page.limit);
    let next = if more { rest.last().map(&key) } else { None };
    (rest, next)
}

/// A list held whole in memory (agents, people, tokens, rules: small by
/// nature), paged by `key` — increasing along the list's order — as the response.
///
/// # Errors
/// 400 naming `limit` or `cursor`.
pub fn paged<T: Serialize>(
    uri: &Uri,
    q: &PageQuery,
    list: &str,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
) -> Result<Response, ApiError> {
    let page = q.page(list, SMALL_DEFAULT, SMALL_MAX)?;
    let (items, next) = slice(items, key, &page);
    Ok(respond(uri, list, items, next))
}

/// An append-only history (oldest first), paged by position.
///
/// # Errors
/// 400 naming `limit` or `cursor`.
pub fn paged_history<T: Serialize>(uri: &Uri, q: &PageQuery, list: &str, items: Vec<T>) -> Result<Response, ApiError> {
    let page = q.page(list, SMALL_DEFAULT, SMALL_MAX)?;
    let numbered: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    let (items, next) = slice(numbered, |(i, _)| id_key(*i as i64), &page);
    Ok(respond(uri, list, items.into_iter().map(|(_, t)| t).collect(), next))
}

/// Default page of the lists held in memory.
pub const SMALL_DEFAULT: usize = 1000;
/// Largest page of the lists held in memory.
pub const SMALL_MAX: usize = 10_000;

/// A page as the response: the array, and when `next` is a key, the
/// `Link` and `Census-Next-Cursor` headers pointing at the next page of `uri`.
pub fn respond<T: Serialize>(uri: &Uri, list: &str, items: Vec<T>, next: Option<String>) -> Response {
    let mut resp = Json(items).into_response();
    if let Some(key) = next {
        let cursor = encode(list, &key);
        let query: Vec<&str> =
            uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty() && !p.starts_with("cursor=")).collect();
        let mut link = format!("<{}?", uri.path());
        for p in query {
            link.push_str(p);
            link.push('&');
        }
        link.push_str(&format!("cursor={cursor}>; rel=\"next\""));
        // Both are built from the request's own path and query (already
        // valid header text) and hex: a failure here cannot happen, and would only drop the header.
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(axum::http::header::LINK, v);
        }
        if let Ok(v) = HeaderValue::from_str(&cursor) {
            resp.headers_mut().insert(NEXT_CURSOR, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_refused_by_another_list() {
        let c = encode("asset", "SRV/é 1");
        assert_eq!(decode("asset", &c).as_deref(), Some("SRV/é 1"));
        assert_eq!(decode("agent", &c), None);
        for bad in ["asset.", "asset.0", "asset.zz", "asset.ff", "asset", "x"] {
            let q = PageQuery { limit: None, cursor: Some(bad.into()) };
            if bad == "asset." {
                assert_eq!(q.page("asset", 10, 100).unwrap().after.as_deref(), Some(""));
            } else {
                assert!(q.page("asset", 10, 100).is_err(), "{bad}");
            }
        }
    }

    #[test]
    fn limits_out_of_range_are_refused_and_the_default_applies() {
        let q = |l: &str| PageQuery { limit: Some(l.into()), cursor: None }.page("a", 10, 100);
        assert_eq!(PageQuery::default().page("a", 10, 100).unwrap().limit, 10);
        assert_eq!(q("100").unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten", "1e3", ""] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_follow_the_key_and_end_without_a_next_key() {
        let items: Vec<i64> = (1..=5).collect();
        let page = |after: Option<String>| Page { limit: 2, after };
        let (a, next) = slice(items.clone(), |i| id_key(*i), &page(None));
        assert_eq!((a, next.clone()), (vec![1, 2], Some(id_key(2))));
        let (b, next) = slice(items.clone(), |i| id_key(*i), &page(next));
        assert_eq!((b, next.clone()), (vec![3, 4], Some(id_key(4))));
        let (c, next) = slice(items, |i| id_key(*i), &page(next));
        assert_eq!((c, next), (vec![5], None));
    }

    #[test]
    fn the_link_keeps_the_filters_and_replaces_the_cursor() {
        let uri: Uri = "/api/v1/alerts?kind=missing&cursor=alert.31&limit=2".parse().unwrap();
        let r = respond(&uri, "alert", vec![1, 2], Some("7".into()));
        let link = r.headers()[axum::http::header::LINK].to_str().unwrap();
        assert_eq!(link, "</api/v1/alerts?kind=missing&limit=2&cursor=alert.37>; rel=\"next\"");
        assert_eq!(r.headers()[NEXT_CURSOR], "alert.37");
        let last = respond(&uri, "alert", vec![1], None);
        assert!(last.headers().get(axum::http::header::LINK).is_none());
    }
}
