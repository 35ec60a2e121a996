//! Every list endpoint pages with `limit` and an opaque `cursor`: walking
//! the `Link: rel="next"` pages one item at a time gives the whole list,
//! in order, each item once; a bad `limit` or `cursor` is a 400 naming it.

mod common;

use std::time::Duration;

use common::{ADMIN, Daemon, batch};
use reqwest::Method;
use serde_json::{Value, json};

/// Follow `path` page by page (`limit=1`), returning every item and the pages walked.
async fn walk(d: &Daemon, path: &str) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut next = Some(format!("{path}{sep}limit=1"));
    let (mut items, mut pages) = (Vec::new(), 0);
    while let Some(p) = next.take() {
        pages += 1;
        assert!(pages < 100, "{path}: the pages do not end");
        let r = d.req(Method::GET, &p, Some(ADMIN), None).await;
        assert_eq!(r.status(), 200, "{p}");
        let link = r.headers().get("link").map(|v| v.to_str().unwrap().to_string());
        let cursor = r.headers().get("census-next-cursor").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(link.is_some(), cursor.is_some(), "{p}: Link and Census-Next-Cursor go together");
        let page: Vec<Value> = r.json().await.unwrap();
        assert!(page.len() <= 1, "{p}: limit=1 gave {}", page.len());
        items.extend(page);
        if let Some(l) = link {
            let target = l.strip_prefix('<').and_then(|l| l.split_once(">; rel=\"next\"")).unwrap().0.to_string();
            assert!(target.ends_with(&format!("cursor={}", cursor.unwrap())), "{l}");
            next = Some(target);
        }
    }
    (items, pages)
}

#[tokio::test]
async fn every_list_endpoint_walks_page_by_page_to_the_whole_list() {
    let d = Daemon::start().await;
    for (i, tag) in ["OLD-1", "OLD-2", "OLD-3"].iter().enumerate() {
        let asset = json!({ "tag": tag, "name": "old box", "type": "server", "owner": "ops",
            "lifecycle": "decommissioned", "macs": [format!("00:1b:21:00:00:0{i}")] });
        let (status, v) = d.admin_json(Method::POST, "/api/v1/assets", Some(asset)).await;
        assert_eq!(status, 201, "{v}");
        let (status, v) = d
            .admin_json(
                Method::PUT,
                &format!("/api/v1/assets/{tag}"),
                Some(json!({ "tag": tag, "name": "older box",
                "type": "server", "owner": "ops", "lifecycle": "decommissioned",
                "macs": [format!("00:1b:21:00:00:0{i}")] })),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    d.add_agent("a2", &["198.18.1.0/24"]).await;
    d.add_agent("a3", &["198.18.2.0/24"]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let body = census_proto::encode_batch(&batch("a1", &["198.18.0.10", "198.18.0.11", "198.18.0.12"]));
    assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    d.settle().await;
    for name in ["ann", "bob", "cyd"] {
        let (status, v) = d
            .admin_json(
                Method::POST,
                "/api/v1/users",
                Some(json!({ "name": name, "role": "viewer",
                "password": "a long enough password" })),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let (status, v) = d.admin_json(Method::POST, "/api/v1/tokens", Some(json!({ "user": name }))).await;
        assert_eq!(status, 201, "{v}");
    }
    for kind in ["unknown-asset", "missing", "new-service"] {
        let rule = json!({ "kind": kind, "reason": "paging test", "expires_in": "1d" });
        let (status, v) = d.admin_json(Method::POST, "/api/v1/suppressions", Some(rule)).await;
        assert_eq!(status, 201, "{v}");
    }
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts", None).await;
    let first_alert = alerts[0]["id"].as_i64().unwrap();
    let (status, v) = d.admin_json(Method::POST, &format!("/api/v1/alerts/{first_alert}/ack"), None).await;
    assert_eq!(status, 200, "{v}");
    let lists = [
        "/api/v1/assets".to_string(),
        "/api/v1/assets/OLD-2/history".into(),
        "/api/v1/agents".into(),
        "/api/v1/alerts?kind=should-be-retired".into(),
        format!("/api/v1/alerts/{first_alert}/history"),
        "/api/v1/suppressions".into(),
        "/api/v1/users".into(),
        "/api/v1/tokens".into(),
    ];
    for path in &lists {
        let (status, whole) = d.admin_json(Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {whole}");
        let whole = whole.as_array().unwrap().clone();
        assert!(whole.len() >= 2, "{path}: a list of {} does not test paging", whole.len());
        let (paged, pages) = walk(&d, path).await;
        assert_eq!(paged, whole, "{path}: the pages, in order, are the whole list");
        assert!(pages >= whole.len(), "{path}: {pages} pages for {} items", whole.len());
        // The CLI's client follows the cursors to the end: a listing is never cut at a page.
        let cli = censusd::client::Client::new(&d.base, ADMIN, None).unwrap();
        let followed = cli.get_all(path, &[("limit", "1".into())]).await.unwrap();
        assert_eq!(followed, whole, "{path}: the CLI's listing is the whole list");
        for (bad, field) in [("limit=0", "limit"), ("limit=abc", "limit"), ("cursor=zz", "cursor")] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let (status, v) = d.admin_json(Method::GET, &format!("{path}{sep}{bad}"), None).await;
            assert_eq!((status, v["field"].as_str()), (400, Some(field)), "{path} {bad}: {v}");
        }
    }
    // A cursor of one list is refused by another.
    let r = d.req(Method::GET, "/api/v1/agents?limit=1", Some(ADMIN), None).await;
    let cursor = r.headers()["census-next-cursor"].to_str().unwrap().to_string();
    let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/assets?cursor={cursor}"), None).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("cursor")), "{v}");
    // Keyset: an item added behind the cursor does not shift the next page.
    let r = d.req(Method::GET, "/api/v1/assets?limit=1", Some(ADMIN), None).await;
    let cursor = r.headers()["census-next-cursor"].to_str().unwrap().to_string();
    let asset = json!({ "tag": "AAA-0", "name": "first by tag", "type": "server", "lifecycle": "deployed" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(asset)).await.0, 201);
    let (_, next) = d.admin_json(Method::GET, &format!("/api/v1/assets?limit=1&cursor={cursor}"), None).await;
    assert_eq!(next[0]["tag"], "OLD-2", "{next}");
    d.stop().await;
}
