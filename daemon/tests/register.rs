//! The managed register through the real API: validation naming the field,
//! change history with lifecycle transitions, and all-or-nothing imports of
//! a 10,000-row register that round-trip through export.

mod common;

use common::{ADMIN, Daemon};
use reqwest::Method;
use serde_json::json;

fn server(tag: &str) -> serde_json::Value {
    json!({
        "tag": tag, "name": "Build server", "type": "server", "owner": "Platform team", "department": "Engineering",
        "lifecycle": "deployed", "hostnames": ["build-01.lab.example"], "macs": ["00:1b:21:5e:00:00"],
        "ips": ["198.18.0.10"], "expected_segment": "198.18.0.0/24", "criticality": "high", "support_end": "2028-06-30",
        "licences": [{"product": "RHEL", "vendor": "Red Hat", "expires": "2027-01-31"}],
        "expected_services": [{"port": 8443, "name": "edr-agent"}], "tags": ["ci"]
    })
}

#[tokio::test]
async fn crud_validates_and_records_history() {
    let d = Daemon::start().await;
    let (s, a) = d.admin_json(Method::POST, "/api/v1/assets", Some(server("SRV-001"))).await;
    assert_eq!(s, 201, "{a}");
    assert!(a["lifecycle_since"].is_string(), "lifecycle date is set on creation");
    let (s, _) = d.admin_json(Method::POST, "/api/v1/assets", Some(server("SRV-001"))).await;
    assert_eq!(s, 409, "tags are unique");

    for (field, value, want) in [
        ("macs", json!(["zz:00"]), "macs[0]"),
        ("lifecycle", json!("retired-ish"), "lifecycle"),
        ("type", json!("toaster"), "type"),
        ("support_end", json!("30/06/2028"), "support_end"),
        ("colour", json!("blue"), "colour"),
    ] {
        let mut bad = server("SRV-002");
        bad[field] = value;
        let (s, e) = d.admin_json(Method::POST, "/api/v1/assets", Some(bad)).await;
        assert_eq!(s, 400, "{field}: {e}");
        assert_eq!(e["field"], want, "{e}");
        if field == "colour" {
            assert!(e["error"].as_str().unwrap().contains("unknown field `colour`"), "{e}");
        }
    }

    let mut retired = server("SRV-001");
    retired["lifecycle"] = "decommissioned".into();
    retired["owner"] = "Nobody".into();
    let (s, a) = d.admin_json(Method::PUT, "/api/v1/assets/SRV-001", Some(retired)).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["lifecycle"], "decommissioned");
    let (_, h) = d.admin_json(Method::GET, "/api/v1/assets/SRV-001/history", None).await;
    assert_eq!(h[0]["action"], "update");
    assert_eq!(h[0]["lifecycle"], json!(["deployed", "decommissioned"]));
    let fields: Vec<&str> = h[0]["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(fields.contains(&"owner") && fields.contains(&"lifecycle"), "{fields:?}");
    assert_eq!(h[1]["action"], "create");

    let (s, _) = d.admin_json(Method::PUT, "/api/v1/assets/SRV-404", Some(server("SRV-404"))).await;
    assert_eq!(s, 404);
    let (s, _) = d.admin_json(Method::PUT, "/api/v1/assets/SRV-001", Some(server("SRV-009"))).await;
    assert_eq!(s, 400, "tag in body must match the path");
    assert_eq!(d.req(Method::DELETE, "/api/v1/assets/SRV-001", Some(ADMIN), None).await.status(), 204);
    assert_eq!(d.req(Method::GET, "/api/v1/assets/SRV-001", Some(ADMIN), None).await.status(), 404);
    d.stop().await;
}

fn register_csv(rows: usize, bad: &[usize]) -> String {
    let mut s = String::from(
        "tag,name,type,owner,department,lifecycle,hostnames,macs,ips,expected_segment,criticality,support_end,licences,expected_services,tags\n",
    );
    for i in 0..rows {
        let lifecycle = ["deployed", "maintenance", "procurement", "decommissioned", "disposed"][i % 5];
        let mut row = format!(
            "A{i:05},\"Host {i}, rack {}\",server,Team {},Ops,{lifecycle},host-{i}.corp.example,00:50:56:{:02x}:{:02x}:{:02x},198.18.{}.{},198.18.0.0/16,medium,2029-01-01,Windows Server|Microsoft|2027-12-31,8443/edr-agent,prod;dc1\n",
            i % 40,
            i % 7,
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff,
            i / 250,
            i % 250 + 1
        );
        if let Some(k) = bad.iter().position(|b| *b == i) {
            row = match k {
                0 => row.replace(",server,", ",toaster,"),
                1 => row.replace(&format!("00:50:56:{:02x}", (i >> 16) & 0xff), "00:50:zz"),
                2 => row.replace(",2029-01-01,", ",01/01/2029,"),
                3 => row.replace(",198.18.0.0/16,", ",198.18.0.0/33,"),
                _ => row.replace(&format!("A{i:05},"), "A00000,"),
            };
        }
        s.push_str(&row);
    }
    s
}

#[tokio::test]
async fn a_10000_row_import_is_all_or_nothing_and_round_trips() {
    let d = Daemon::start_with_limit(64 << 20).await;
    let bad_rows = [17, 2048, 5000, 7777, 9999];
    let csv = register_csv(10_000, &bad_rows);
    let r = d.req(Method::POST, "/api/v1/register/import?format=csv", Some(ADMIN), Some(csv.into_bytes())).await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    let details = e["details"].as_array().unwrap();
    let named: Vec<(u64, &str)> =
        details.iter().map(|d| (d["row"].as_u64().unwrap(), d["column"].as_str().unwrap())).collect();
    // Data rows: the first row under the header is row 1, so the i-th generated row is row i + 1.
    assert_eq!(
        named,
        vec![(18, "type"), (2049, "macs"), (5001, "support_end"), (7778, "expected_segment"), (10000, "tag")],
        "{e}"
    );
    let (_, all) = d.admin_json(Method::GET, "/api/v1/assets", None).await;
    assert_eq!(all.as_array().unwrap().len(), 0, "nothing stored");

    // Fixed, a dry run says what would happen and stores nothing.
    let csv = register_csv(10_000, &[]);
    let (s, plan) =
        d.admin_json_body(Method::POST, "/api/v1/register/import?format=csv&dry_run=true", csv.clone()).await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["added"].as_array().unwrap().len(), 10_000);
    let (_, all) = d.admin_json(Method::GET, "/api/v1/assets", None).await;
    assert_eq!(all.as_array().unwrap().len(), 0);

    let (s, plan) = d.admin_json_body(Method::POST, "/api/v1/register/import?format=csv", csv.clone()).await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["added"].as_array().unwrap().len(), 10_000);

    // Export, re-import: nothing changes, and the export is identical — also with a
    // delimiter, which the export honours so the file imports back with the same one.
    for format in ["csv", "csv&delimiter=%3B", "json"] {
        let first = d
            .req(Method::GET, &format!("/api/v1/register/export?format={format}"), Some(ADMIN), None)
            .await
            .text()
            .await
            .unwrap();
        let (s, plan) =
            d.admin_json_body(Method::POST, &format!("/api/v1/register/import?format={format}"), first.clone()).await;
        assert_eq!(s, 200, "{plan}");
        assert_eq!(
            (plan["added"].as_array().unwrap().len(), plan["changed"].as_array().unwrap().len()),
            (0, 0),
            "{format}"
        );
        assert_eq!(plan["unchanged"], 10_000);
        let second = d
            .req(Method::GET, &format!("/api/v1/register/export?format={format}"), Some(ADMIN), None)
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(first, second, "{format} export re-imports to an identical register");
        if format.contains("%3B") {
            assert!(first.starts_with("tag;name;"), "{}", &first[..40]);
        }
    }
    // A bad delimiter is refused by name whatever the format, never silently ignored.
    for format in ["csv", "json"] {
        for path in ["export", "import"] {
            let method = if path == "export" { Method::GET } else { Method::POST };
            let r = d
                .req(
                    method,
                    &format!("/api/v1/register/{path}?format={format}&delimiter="),
                    Some(ADMIN),
                    Some(b"[]".to_vec()),
                )
                .await;
            assert_eq!(r.status(), 400, "{path} {format}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("delimiter"), "{body}");
        }
    }

    // A change plan: one retired, one changed owner, one new.
    let edited = csv
        .replace(
            "A00000,\"Host 0, rack 0\",server,Team 0,Ops,deployed,",
            "A00000,\"Host 0, rack 0\",server,Team 0,Ops,decommissioned,",
        )
        .replace("A00001,\"Host 1, rack 1\",server,Team 1,", "A00001,\"Host 1, rack 1\",server,Team X,")
        + "NEW-1,New thing,iot,,,procurement,,,,,low,,,,\n";
    let (s, plan) = d.admin_json_body(Method::POST, "/api/v1/register/import?format=csv&dry_run=true", edited).await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["added"], json!(["NEW-1"]));
    assert_eq!(plan["retired"], json!(["A00000"]));
    assert_eq!(plan["changed"].as_array().unwrap().len(), 2);
    assert_eq!(plan["changed"][1]["tag"], "A00001");
    assert_eq!(plan["changed"][1]["fields"], json!(["owner"]));
    assert_eq!(plan["changed"][1]["changes"], json!([{"field": "owner", "before": "Team 1", "after": "Team X"}]));
    d.stop().await;
}

#[tokio::test]
async fn bad_csv_headers_and_json_rows_are_named() {
    let d = Daemon::start().await;
    let (s, e) = d
        .admin_json_body(Method::POST, "/api/v1/register/import?format=csv", "tag,name,colour\nA,B,red\n".into())
        .await;
    assert_eq!(s, 400);
    let details = e["details"].as_array().unwrap();
    assert!(details.iter().any(|d| d["column"] == "colour" && d["row"] == 0), "{e}");
    assert!(
        details.iter().any(|d| d["column"] == "type" && d["message"].as_str().unwrap().contains("required")),
        "{e}"
    );
    let body =
        json!([server("J-1"), {"tag": "J-2", "name": "x", "type": "server", "lifecycle": "deployed", "ips": ["nope"]}]);
    let (s, e) = d.admin_json_body(Method::POST, "/api/v1/register/import?format=json", body.to_string()).await;
    assert_eq!(s, 400);
    assert_eq!((e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()), (Some(2), Some("ips[0]")), "{e}");
    d.stop().await;
}
