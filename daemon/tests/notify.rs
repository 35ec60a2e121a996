//! Alerts over the real API and out to receivers on 127.0.0.1: webhooks
//! (generic JSON and Slack-compatible), JSON lines, a receiver that is down
//! at first and still gets everything, plus whois, ack and the report.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use censusd::config::{NotifyConfig, ReconcileConfig, WebhookConfig, WebhookFormat};
use common::{Daemon, batch};
use reqwest::Method;
use serde_json::json;

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

async fn receiver(listener: tokio::net::TcpListener) -> Received {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(json!(body)));
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    got
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_webhooks_and_json_lines_and_a_receiver_that_was_down_gets_them_later() {
    // A port nothing listens on yet: the "down" receiver.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let slack_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slack_addr = slack_listener.local_addr().unwrap();
    let slack = receiver(slack_listener).await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("alerts.jsonl");
    let notify = NotifyConfig {
        jsonl: Some(jsonl.display().to_string()),
        webhooks: vec![
            WebhookConfig {
                name: "siem".into(),
                url: format!("http://{down_addr}/hook"),
                format: WebhookFormat::Json,
                min_severity: censusd::alerts::Severity::Low,
            },
            WebhookConfig {
                name: "chat".into(),
                url: format!("http://{slack_addr}/hook"),
                format: WebhookFormat::Slack,
                min_severity: censusd::alerts::Severity::High,
            },
        ],
    };
    let d = Daemon::start_full(dir, 1 << 20, &ReconcileConfig::default(), &notify).await;
    for asset in [
        json!({ "tag": "NEW-1", "name": "new box", "type": "server", "lifecycle": "procurement", "macs": ["00:1b:21:00:00:00"] }),
        json!({ "tag": "OLD-1", "name": "old box", "type": "server", "owner": "ops", "lifecycle": "decommissioned",
                "macs": ["00:1b:21:00:00:01"] }),
    ] {
        let (status, v) = d.admin_json(Method::POST, "/api/v1/assets", Some(asset)).await;
        assert_eq!(status, 201, "{v}");
    }
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    // Let the register change's full reconcile run first; then deliver.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let body = census_proto::encode_batch(&batch("a1", &["198.18.0.10", "198.18.0.11"]));
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await;
    assert_eq!(r.status(), 200);

    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts", None).await;
    let kinds: Vec<&str> = alerts.as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"pending-in-use") && kinds.contains(&"should-be-retired"), "{kinds:?}");
    assert_eq!(kinds.len(), 2, "{alerts}");

    // Slack gets only the high one (should-be-retired), as text.
    wait_for("the slack message", || !slack.lock().unwrap().is_empty()).await;
    let msg = slack.lock().unwrap()[0].clone();
    assert!(msg["text"].as_str().unwrap().contains("should-be-retired asset:OLD-1"), "{msg}");
    // JSON lines get both.
    wait_for("two JSON lines", || std::fs::read_to_string(&jsonl).is_ok_and(|t| t.lines().count() == 2)).await;
    // The SIEM receiver was down: nothing lost, it gets both once it is up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, status) = d.admin_json(Method::GET, "/api/v1/status", None).await;
    assert_eq!(status["notification_backlog"]["siem"], 2, "{status}");
    let siem = receiver(tokio::net::TcpListener::bind(down_addr).await.unwrap()).await;
    wait_for("the retried deliveries", || siem.lock().unwrap().len() == 2).await;
    let events = siem.lock().unwrap().clone();
    assert!(events.iter().all(|e| e["event"] == "opened" && e["alert"]["evidence"]["asset"]["tag"].is_string()));

    // Whois through the API, then acknowledge and resolve through it.
    let (status, w) = d.admin_json(Method::GET, "/api/v1/whois?q=198.18.0.11", None).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["asset"]["tag"], "OLD-1");
    assert!(w["verdict"].as_str().unwrap().starts_with("should NOT exist"));
    assert_eq!(w["hosts"][0]["last_agent"], "a1");
    let (status, _) = d.admin_json(Method::GET, "/api/v1/whois?q=198.18.0.99", None).await;
    assert_eq!(status, 404);
    let id = w["alerts"][0]["id"].as_i64().unwrap();
    let (status, a) = d.admin_json(Method::POST, &format!("/api/v1/alerts/{id}/ack"), None).await;
    assert_eq!((status, a["state"].as_str()), (200, Some("acknowledged")));
    let (status, a) =
        d.admin_json(Method::POST, &format!("/api/v1/alerts/{id}/resolve"), Some(json!({"note": "wiped"}))).await;
    assert_eq!((status, a["state"].as_str()), (200, Some("resolved")));
    wait_for("the resolution event", || siem.lock().unwrap().len() == 3).await;
    assert_eq!(siem.lock().unwrap()[2]["event"], "resolved");

    // The audit report, as CSV.
    let r = d.req(Method::GET, "/api/v1/report?format=csv", Some(common::ADMIN), None).await;
    let csv = r.text().await.unwrap();
    assert!(csv.lines().next().unwrap().starts_with("subject,name,asset_type,owner,lifecycle,status"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("NEW-1,") && l.contains("pending-in-use")), "{csv}");
    d.stop().await;
}

#[tokio::test]
async fn suppressions_are_validated_and_listed() {
    let d = Daemon::start().await;
    let (status, v) =
        d.admin_json(Method::POST, "/api/v1/suppressions", Some(json!({ "reason": "x", "expires_in": "1d" }))).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = d
        .admin_json(
            Method::POST,
            "/api/v1/suppressions",
            Some(json!({ "kind": "not-a-kind", "reason": "x", "expires_in": "1d" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v.to_string().contains("kind"), "{v}");
    let (status, v) = d
        .admin_json(
            Method::POST,
            "/api/v1/suppressions",
            Some(json!({ "segment": "guest-wifi", "kind": "unknown-asset", "reason": "guests", "expires_in": "7d" })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, list) = d.admin_json(Method::GET, "/api/v1/suppressions", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["created_by"], "admin");
    let id = list[0]["id"].as_i64().unwrap();
    let r = d.req(Method::DELETE, &format!("/api/v1/suppressions/{id}"), Some(common::ADMIN), None).await;
    assert_eq!(r.status(), 204);
    d.stop().await;
}
