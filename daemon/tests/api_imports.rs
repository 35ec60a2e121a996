//! `POST /api/v1/imports/nmap`: an nmap report imported over the API, as
//! `censusd import nmap` does; refused with the element named (422) or the
//! parameter named (400), and only for admins.

mod common;

use common::{ADMIN, Daemon};
use reqwest::Method;

const SCAN: &str = include_str!("fixtures/nmap-lab-sS-sV.xml");

/// The fixture with its times moved to just before now (the ingest checks
/// refuse batches older than 90 days).
fn fresh(xml: &str) -> String {
    let finished: i64 = 1_796_282_987;
    let shift = time::OffsetDateTime::now_utc().unix_timestamp() - 60 - finished;
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find("=\"17962") {
        out.push_str(&rest[..i + 2]);
        let digits = &rest[i + 2..i + 12];
        let t: i64 = digits.parse().unwrap();
        out.push_str(&(t + shift).to_string());
        rest = &rest[i + 12..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn an_admin_imports_a_report_and_bad_ones_are_refused_naming_what() {
    let d = Daemon::start_with_limit(8 << 20).await;
    let xml = fresh(SCAN);
    let r = d
        .req(Method::POST, "/api/v1/imports/nmap?segment=198.18.0.0/24", Some(ADMIN), Some(xml.as_bytes().to_vec()))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["agent"].as_str(), v["agent_created"].as_bool()), (Some("nmap"), Some(true)), "{v}");
    assert_eq!((v["receipt"]["stored"].as_u64(), v["report"]["complete"].as_bool()), (Some(4), Some(true)), "{v}");
    let (_, host) = d.admin_json(Method::GET, "/api/v1/hosts/198.18.0.12", None).await;
    assert_eq!(host["mac"], "00:1b:21:5e:00:02", "{host}");

    let cut = &xml[..xml.len() * 2 / 3];
    let r = d
        .req(
            Method::POST,
            "/api/v1/imports/nmap?segment=198.18.0.0/24&agent=other",
            Some(ADMIN),
            Some(cut.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(e["field"].as_str().unwrap().starts_with("nmaprun/host["), "{e}");
    assert!(e["error"].as_str().unwrap().contains("cut short"), "{e}");

    let r =
        d.req(Method::POST, "/api/v1/imports/nmap?segment=banana", Some(ADMIN), Some(xml.as_bytes().to_vec())).await;
    assert_eq!(r.status().as_u16(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["field"], "segment", "{e}");
    let r = d
        .req(
            Method::POST,
            "/api/v1/imports/nmap?segment=198.18.0.0/24&agent=bad%20name%0a",
            Some(ADMIN),
            Some(xml.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400, "{}", r.text().await.unwrap());
    let r = d.req(Method::POST, "/api/v1/imports/nmap", Some(ADMIN), Some(xml.as_bytes().to_vec())).await;
    assert_eq!(r.status().as_u16(), 400, "the segment is required");

    // Only admins: an agent's token does not import.
    let token = d.add_agent("lab-1", &["198.18.0.0/24"]).await;
    let r = d
        .req(
            Method::POST,
            "/api/v1/imports/nmap?segment=198.18.0.0/24&agent=lab-1",
            Some(&token),
            Some(xml.as_bytes().to_vec()),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    // Nothing of the refused imports was stored, and no agent made for them.
    let (_, agents) = d.admin_json(Method::GET, "/api/v1/agents", None).await;
    let names: Vec<&str> = agents.as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, vec!["lab-1", "nmap"], "{agents}");
    d.stop().await;
}
