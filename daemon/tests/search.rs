//! The register's search over the API (`GET /api/v1/assets?q=`) and the
//! CLI's client: terms on the register, on what agents saw and on alerts;
//! a bad term is a 400 naming `q`.

mod common;

use common::{ADMIN, Daemon, batch};
use reqwest::Method;
use serde_json::json;

async fn tags(d: &Daemon, q: &str) -> Vec<String> {
    let cli = censusd::client::Client::new(&d.base, ADMIN, None).unwrap();
    let found = cli.get_all("/api/v1/assets", &[("q", q.to_string())]).await.unwrap();
    found.iter().map(|a| a["tag"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_search_combines_register_sightings_and_alerts() {
    let d = Daemon::start().await;
    for a in [
        json!({ "tag": "SRV-OLD", "name": "old file server", "type": "server", "owner": "platform-team",
            "lifecycle": "decommissioned", "lifecycle_since": "2026-01-01", "ips": ["198.18.0.10"] }),
        json!({ "tag": "SRV-DB", "name": "billing db", "type": "server", "owner": "dba", "lifecycle": "deployed",
            "ips": ["198.18.0.11"], "expected_segment": "198.18.0.0/24" }),
        json!({ "tag": "LAP-1", "name": "ann's laptop", "type": "endpoint", "owner": "platform-team", "lifecycle": "deployed",
            "hostnames": ["ann-laptop.corp.example"] }),
    ] {
        assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    }
    let agent = d.add_agent("lab-1", &["198.18.0.0/24"]).await;
    let body = census_proto::encode_batch(&batch("lab-1", &["198.18.0.10", "198.18.0.11"]));
    assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&agent), Some(body)).await.status(), 200);
    d.settle().await;
    assert_eq!(d.admin_json(Method::POST, "/api/v1/reconcile", None).await.0, 200);

    assert_eq!(tags(&d, "lifecycle:decommissioned seen:<1d").await, ["SRV-OLD"]);
    assert_eq!(tags(&d, "owner:platform-team").await, ["LAP-1", "SRV-OLD"]);
    assert_eq!(tags(&d, "owner:platform-team -type:endpoint").await, ["SRV-OLD"]);
    assert_eq!(tags(&d, "seen:>7d").await, ["LAP-1"], "never seen counts as not seen");
    assert_eq!(tags(&d, "alert:open").await, ["SRV-OLD"], "the should-be-retired alert");
    assert_eq!(tags(&d, "segment:198.18.0.0/16 alert:none").await, ["SRV-DB"]);
    assert_eq!(tags(&d, "laptop").await, ["LAP-1"], "a free word matches the host name");
    assert_eq!(tags(&d, "").await.len(), 3);
    // Paging a search: one at a time, in tag order.
    let r = d.req(Method::GET, "/api/v1/assets?q=type:server&limit=1", Some(ADMIN), None).await;
    let next = r.headers()["census-next-cursor"].to_str().unwrap().to_string();
    let first: serde_json::Value = r.json().await.unwrap();
    assert_eq!(first[0]["tag"], "SRV-DB");
    let (_, second) =
        d.admin_json(Method::GET, &format!("/api/v1/assets?q=type:server&limit=1&cursor={next}"), None).await;
    assert_eq!(second[0]["tag"], "SRV-OLD");
    // A bad term names the parameter and the term.
    let (s, v) = d.admin_json(Method::GET, "/api/v1/assets?q=seen:7d", None).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("q")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("seen:7d"), "{v}");
    d.stop().await;
}
