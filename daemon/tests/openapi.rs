//! The OpenAPI document: served without a token, every `$ref` resolves,
//! every described operation reaches a handler of the running daemon, and
//! every route the router serves under /api/v1 is described.

mod common;

use std::collections::BTreeSet;

use common::{ADMIN, Daemon};
use reqwest::Method;
use serde_json::Value;

fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.insert(r.to_string());
                }
                refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The routes registered in `api::routes`, read from the source: the
/// router cannot be listed at run time, so this is how a route added
/// beside `routes!` (undescribed) would be caught.
fn routes_in_source() -> usize {
    let src = include_str!("../src/api/mod.rs");
    let start = src.find("pub fn routes()").unwrap();
    let end = start + src[start..].find(".split_for_parts()").unwrap();
    let body = &src[start..end];
    assert!(!body.contains(".route("), "a route added without routes! has no description");
    body.matches("routes!(").count()
}

#[tokio::test]
async fn every_route_is_described_and_every_description_routes() {
    let d = Daemon::start().await;
    let r = d.req(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status(), 200, "the document needs no token");
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    if let Some(dir) = std::env::var_os("CENSUS_OPENAPI_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("openapi.json"), doc.to_string()).unwrap();
    }
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    let mut path_count = 0;
    for (path, item) in paths {
        path_count += 1;
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
            // Fill path parameters with a value of the right type that names nothing.
            let concrete = path
                .replace("{id}", "999999")
                .replace("{ip}", "198.18.9.9")
                .replace("{name}", "nobody")
                .replace("{tag}", "NO-SUCH-TAG");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = d.req(m, &concrete, Some(ADMIN), None).await;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}: described but not routed");
            assert!(
                !(status == 404 && body.contains("\"Not Found\"")),
                "{method} {path}: described but the router has no such route: {body}"
            );
            let documented = op["responses"].as_object().unwrap().contains_key(&status.to_string());
            assert!(documented, "{method} {concrete} answered {status}, not in its responses: {body}");
        }
    }
    assert_eq!(path_count, routes_in_source(), "each routes! call is one described path");
    assert!(operations >= 34, "{operations} operations");
    d.stop().await;
}

/// Two Rust types of the same name share one component and the last one
/// wins: the people directory's `Status` enum once replaced `GET
/// /api/v1/status`'s answer (schemathesis found the status body "not a
/// string"). Components whose shape a name collision would change.
#[tokio::test]
async fn components_of_the_same_name_do_not_replace_each_other() {
    let d = Daemon::start().await;
    let doc: Value = d.req(Method::GET, "/api/v1/openapi.json", None, None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Status"]["properties"].get("live_alerts").is_some(), "{}", schemas["Status"]);
    assert!(schemas["Unlicensed"]["properties"].get("asset").is_some(), "{}", schemas["Unlicensed"]);
    assert!(schemas["AssetOver"]["properties"].get("matched_by").is_some(), "{}", schemas["AssetOver"]);
    assert!(schemas["PersonStatus"]["enum"].is_array(), "{}", schemas["PersonStatus"]);
    d.stop().await;
}
