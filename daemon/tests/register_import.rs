//! Register imports never lose data: a merge by default, explicit clearing,
//! tags unique in any case, one asset per MAC, and errors that name the data
//! row and the column by its header — for the files spreadsheets really
//! write (`;` delimiters, Windows-1252, quoted cells spanning lines).

mod common;

use common::Daemon;
use reqwest::Method;
use serde_json::json;

const FULL: &str = "tag,name,type,owner,department,lifecycle,hostnames,macs,ips,expected_segment,criticality,licences,expected_services,tags\n\
CB-1017,Core DB,server,dba-team,IT,deployed,db1.corp.example,58:91:cf:3a:07:33,198.18.0.17,198.18.0.0/24,critical,PostgreSQL support|EDB|2027-01-01,4118/edr-agent,prod\n";

async fn import(d: &Daemon, query: &str, body: &str) -> (u16, serde_json::Value) {
    d.admin_json_body(Method::POST, &format!("/api/v1/register/import?{query}"), body.to_string()).await
}

async fn asset(d: &Daemon, tag: &str) -> serde_json::Value {
    d.admin_json(Method::GET, &format!("/api/v1/assets/{tag}"), None).await.1
}

#[tokio::test]
async fn a_file_with_some_columns_changes_only_those_columns() {
    let d = Daemon::start().await;
    assert_eq!(import(&d, "format=csv", FULL).await.0, 200);
    let before = asset(&d, "CB-1017").await;
    let (s, plan) =
        import(&d, "format=csv&dry_run=true", "tag,name,type,lifecycle\nCB-1017,Core DB,server,maintenance\n").await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["changed"][0]["fields"], json!(["lifecycle", "lifecycle_since"]), "{plan}");
    let (s, _) = import(&d, "format=csv", "tag,name,type,lifecycle\nCB-1017,Core DB,server,maintenance\n").await;
    assert_eq!(s, 200);
    let after = asset(&d, "CB-1017").await;
    assert_eq!(after["lifecycle"], "maintenance");
    for field in ["owner", "macs", "ips", "licences", "expected_services", "criticality", "hostnames", "tags"] {
        assert_eq!(after[field], before[field], "{field} kept");
    }
    // Only the tag and one column: the same.
    assert_eq!(import(&d, "format=csv", "tag,owner\ncb-1017,platform-team\n").await.0, 200);
    let after = asset(&d, "CB-1017").await;
    assert_eq!((after["owner"].as_str(), after["lifecycle"].as_str()), (Some("platform-team"), Some("maintenance")));
    assert_eq!(after["macs"], before["macs"]);
    d.stop().await;
}

#[tokio::test]
async fn empty_cells_clear_only_when_asked_and_replace_keeps_the_whole_asset_behaviour() {
    let d = Daemon::start().await;
    import(&d, "format=csv", FULL).await;
    let (_, plan) = import(&d, "format=csv&dry_run=true", "tag,owner,macs\nCB-1017,,\n").await;
    assert_eq!((plan["kept_empty"].as_u64(), plan["unchanged"].as_u64()), (Some(2), Some(1)), "{plan}");
    let (_, plan) = import(&d, "format=csv&dry_run=true&clear_empty=true", "tag,owner,macs\nCB-1017,,\n").await;
    assert_eq!(plan["changed"][0]["fields"], json!(["macs", "owner"]), "{plan}");
    let (s, e) = import(&d, "format=csv&clear_empty=true", "tag,name\nCB-1017,\n").await;
    assert_eq!(s, 400, "a required field cannot be emptied");
    assert_eq!(e["details"][0]["column"], "name");
    // --replace: the row is the asset.
    let (s, _) =
        import(&d, "format=csv&replace=true", "tag,name,type,lifecycle\nCB-1017,Core DB,server,deployed\n").await;
    assert_eq!(s, 200);
    let a = asset(&d, "CB-1017").await;
    assert_eq!((a["owner"].as_str(), a["macs"].as_array().map(Vec::len)), (Some(""), Some(0)));
    d.stop().await;
}

#[tokio::test]
async fn tags_are_one_whatever_their_case_and_a_mac_belongs_to_one_asset() {
    let d = Daemon::start().await;
    import(&d, "format=csv", FULL).await;
    // Two rows, one tag in two cases.
    let (s, e) =
        import(&d, "format=csv", "tag,name,type,lifecycle\nSW-1,a,network,deployed\nsw-1,b,network,deployed\n").await;
    assert_eq!(s, 400);
    assert_eq!((e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()), (Some(2), Some("tag")));
    assert!(e["details"][0]["message"].as_str().unwrap().contains("row 1"), "{e}");
    // One MAC in two notations on two rows.
    let (s, e) = import(
        &d,
        "format=csv",
        "tag,name,type,lifecycle,macs\nLT-1,a,endpoint,deployed,00:1b:21:aa:bb:cc\nLT-2,b,endpoint,deployed,001B21AABBCC\n",
    )
    .await;
    assert_eq!(s, 400);
    let m = &e["details"][0];
    assert_eq!((m["row"].as_u64(), m["column"].as_str()), (Some(2), Some("macs")), "{e}");
    assert!(m["message"].as_str().unwrap().contains("LT-1 (row 1)"), "{e}");
    // Against the stored register.
    let (s, e) =
        import(&d, "format=csv", "tag,name,type,lifecycle,macs\nX-1,x,server,deployed,58-91-CF-3A-07-33\n").await;
    assert_eq!(s, 400);
    assert!(e["details"][0]["message"].as_str().unwrap().contains("CB-1017 (the register)"), "{e}");
    let (s, e) = d
        .admin_json(
            Method::POST,
            "/api/v1/assets",
            Some(json!({"tag": "X-2", "name": "x", "type": "server",
            "lifecycle": "deployed", "macs": ["58:91:cf:3a:07:33"]})),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    let (s, _) = d
        .admin_json(
            Method::POST,
            "/api/v1/assets",
            Some(json!({"tag": "cb-1017", "name": "x", "type": "server",
            "lifecycle": "deployed"})),
        )
        .await;
    assert_eq!(s, 409, "a tag differing only in case is the same tag");
    assert_eq!(asset(&d, "cb-1017").await["tag"], "CB-1017");
    d.stop().await;
}

#[tokio::test]
async fn spreadsheet_files_get_errors_that_say_what_to_do() {
    let d = Daemon::start().await;
    // `;`-delimited, from a European locale.
    let semi = "tag;name;type;lifecycle\nEU-1;Drucker;iot;deployed\n";
    let (s, e) = import(&d, "format=csv", semi).await;
    assert_eq!(s, 400);
    assert!(e["details"][0]["message"].as_str().unwrap().contains("delimited by `;`"), "{e}");
    assert_eq!(import(&d, "format=csv&delimiter=%3B", semi).await.0, 200);
    // Windows-1252: the column is named and UTF-8 suggested.
    let mut latin = b"tag,name,type,owner,lifecycle\nW-1,Printer,iot,".to_vec();
    latin.extend_from_slice(b"Ren\xe9e,deployed\n");
    let r = d.req(Method::POST, "/api/v1/register/import?format=csv", Some(common::ADMIN), Some(latin)).await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!((e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()), (Some(1), Some("owner")));
    assert!(e["details"][0]["message"].as_str().unwrap().contains("save it as UTF-8"), "{e}");
    // A quoted cell over two lines: the error names the data row, and the file line.
    let multi = "tag,name,type,lifecycle\nM-1,\"two\nlines\",server,deployed\nM-2,bad,toaster,deployed\n";
    let (s, e) = import(&d, "format=csv", multi).await;
    assert_eq!(s, 400);
    assert_eq!((e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()), (Some(1), Some("name")), "{e}");
    assert_eq!((e["details"][1]["row"].as_u64(), e["details"][1]["line"].as_u64()), (Some(2), Some(4)), "{e}");
    // JSON with a key twice.
    let (s, e) =
        import(&d, "format=json", r#"[{"tag":"J-1","tag":"J-2","name":"x","type":"server","lifecycle":"deployed"}]"#)
            .await;
    assert_eq!(s, 400);
    assert!(e["details"][0]["message"].as_str().unwrap().contains("`tag` appears twice"), "{e}");
    d.stop().await;
}

#[tokio::test]
async fn an_imported_change_keeps_the_asset_matched_by_the_next_sweep() {
    let d = Daemon::start().await;
    import(&d, "format=csv", FULL).await;
    import(&d, "format=csv", "tag,name,type,lifecycle\nCB-1017,Core DB,server,maintenance\n").await;
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    // Two sweeps (enough sightings for an unknown-device alert), each seeing
    // the server and a device the register does not know: the stranger
    // alerts, the server — had the import wiped its MAC — would too.
    for _ in 0..2 {
        let mut b = common::batch("a1", &["198.18.0.17", "198.18.0.99"]);
        b.hosts[0].mac.as_mut().unwrap().address = "58:91:cf:3a:07:33".parse().unwrap();
        let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(census_proto::encode_batch(&b))).await;
        assert_eq!(r.status(), 200);
        d.settle().await;
    }
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts", None).await;
    let unknown: Vec<&serde_json::Value> =
        alerts.as_array().unwrap().iter().filter(|a| a["kind"] == "unknown-asset").collect();
    assert_eq!(unknown.len(), 1, "only the stranger is unknown: {alerts}");
    assert!(unknown[0].to_string().contains("198.18.0.99"), "{}", unknown[0]);
    assert!(!unknown[0].to_string().contains("58:91:cf:3a:07:33"), "the server is still recognised: {alerts}");
    d.stop().await;
}

/// Regression (break attempt): moving a MAC from one asset to another in
/// one import was refused or accepted depending on the order of the rows.
#[tokio::test]
async fn a_mac_moved_between_assets_in_one_import_is_accepted_in_either_row_order() {
    let d = Daemon::start().await;
    let start = "tag,name,type,lifecycle,macs\nF3,three,server,deployed,00:1b:21:00:00:f3\nF4,four,server,deployed,00:1b:21:00:00:f4\n";
    assert_eq!(import(&d, "format=csv", start).await.0, 200);
    // F4's MAC moves to F3: the row taking it comes first.
    let moved = "tag,macs\nF3,00:1b:21:00:00:f3;00:1b:21:00:00:f4\nF4,00:1b:21:00:00:99\n";
    let (s, e) = import(&d, "format=csv", moved).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(asset(&d, "F3").await["macs"], json!(["00:1b:21:00:00:f3", "00:1b:21:00:00:f4"]));
    assert_eq!(asset(&d, "F4").await["macs"], json!(["00:1b:21:00:00:99"]));
    // And back, the row giving it up first this time.
    let back = "tag,macs\nF4,00:1b:21:00:00:f4\nF3,00:1b:21:00:00:f3\n";
    assert_eq!(import(&d, "format=csv", back).await.0, 200);
    assert_eq!(asset(&d, "F4").await["macs"], json!(["00:1b:21:00:00:f4"]));
    // A MAC on two assets at the end is still refused, and nothing is written.
    let (s, e) = import(&d, "format=csv", "tag,macs\nF3,00:1b:21:00:00:f4\n").await;
    assert!(s == 400 || s == 409, "{s} {e}");
    assert_eq!(asset(&d, "F3").await["macs"], json!(["00:1b:21:00:00:f3"]));
    d.stop().await;
}

/// #17 item 1: serial number, manufacturer, model, location and external
/// ids come in and go out through CSV and JSON, a bad external id is named
/// by row and column, and a file without them leaves them alone.
#[tokio::test]
async fn hardware_fields_and_external_ids_round_trip_and_are_checked() {
    let d = Daemon::start().await;
    let csv = "tag,name,type,lifecycle,serial,manufacturer,model,location,external_ids\n\
               LT-7,laptop,endpoint,deployed, C02XK1ABJG5H ,Apple,MacBook Pro 14,HQ/3/F12,SnipeIT:1234;netbox:device/56\n";
    assert_eq!(import(&d, "format=csv", csv).await.0, 200);
    let a = asset(&d, "LT-7").await;
    assert_eq!(a["serial"], "C02XK1ABJG5H");
    assert_eq!(a["external_ids"], json!(["snipeit:1234", "netbox:device/56"]));
    assert_eq!((a["manufacturer"].as_str(), a["model"].as_str()), (Some("Apple"), Some("MacBook Pro 14")));
    assert_eq!(import(&d, "format=csv", "tag,owner\nLT-7,ana\n").await.0, 200);
    let after = asset(&d, "LT-7").await;
    for field in ["serial", "manufacturer", "model", "location", "external_ids"] {
        assert_eq!(after[field], a[field], "{field} kept");
    }
    let (status, e) = import(&d, "format=csv", "tag,external_ids\nLT-7,snipeit 1234\n").await;
    assert_eq!(status, 400, "{e}");
    assert_eq!((e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()), (Some(1), Some("external_ids")));
    let exported =
        d.req(Method::GET, "/api/v1/register/export?format=csv", Some(common::ADMIN), None).await.text().await.unwrap();
    assert!(
        exported.contains("C02XK1ABJG5H,Apple,MacBook Pro 14,HQ/3/F12,snipeit:1234;netbox:device/56"),
        "{exported}"
    );
    let (_, w) = d.admin_json(Method::GET, "/api/v1/whois?q=LT-7", None).await;
    assert_eq!(w["asset"]["location"], "HQ/3/F12", "{w}");
    d.stop().await;
}
