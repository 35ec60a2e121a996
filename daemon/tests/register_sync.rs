//! Register sync with Snipe-IT and NetBox, through the daemon's API,
//! against local stand-ins serving each project's documented API
//! (`upstream/`): paging, a refused token, 429 with Retry-After, a 500 in
//! the middle of paging (the sync aborts and changes nothing), a dry run
//! (changes nothing), a second sync with no upstream change (changes
//! nothing), records gone upstream (tagged, never deleted) and the "last
//! seen by Census" write-back.

mod common;
mod upstream;

use std::sync::Arc;

use common::{ADMIN, Daemon, batch};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "s3cr3t-upstream-token";

async fn daemon(section: &str, url: &str, token_file: &std::path::Path, extra: &str) -> Daemon {
    let text = format!("[{section}]\nurl = \"{url}\"\ntoken_file = \"{}\"\n{extra}", token_file.display());
    let raw: censusd::connectors::sync::config::RawSyncs = toml::from_str(&text).unwrap();
    let cfgs = censusd::connectors::sync::config::validate(std::path::Path::new("censusd.toml"), raw).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (r, n) = (Default::default(), Default::default());
    Daemon::start_with(dir, 1 << 20, &r, &n, |d| d.state.sync = Arc::new(cfgs)).await
}

async fn sync(d: &Daemon, system: &str, dry_run: bool) -> (u16, Value) {
    d.admin_json(Method::POST, &format!("/api/v1/sync/{system}?dry_run={dry_run}"), None).await
}

async fn assets(d: &Daemon) -> Vec<Value> {
    let (status, v) = d.admin_json(Method::GET, "/api/v1/assets?limit=1000", None).await;
    assert_eq!(status, 200, "{v}");
    let list = v.get("assets").cloned().unwrap_or(v);
    let mut out = list.as_array().unwrap().clone();
    out.sort_by(|a, b| a["tag"].as_str().cmp(&b["tag"].as_str()));
    out
}

fn by_tag<'a>(all: &'a [Value], tag: &str) -> &'a Value {
    all.iter().find(|a| a["tag"] == tag).unwrap_or_else(|| panic!("{tag} not in {all:#?}"))
}

/// A sighting of MAC 00:1b:21:00:00:00 at 198.18.0.10, reconciled.
async fn sighting(d: &Daemon) {
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let body = census_proto::encode_batch(&batch("agent-1", &["198.18.0.10"]));
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await;
    assert!(r.status().is_success(), "{}", r.status());
    d.settle().await;
}

fn today() -> String {
    let t = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn hardware(id: u64, tag: &str, status: (&str, &str), category: &str, mac: &str) -> Value {
    json!({
        "id": id, "name": format!("host-{id}"), "asset_tag": tag, "serial": format!("SN-{id:04}"),
        "model": {"id": 1, "name": "Latitude 7440"}, "manufacturer": {"id": 1, "name": "Dell"},
        "category": {"id": 1, "name": category}, "location": {"id": 1, "name": "HQ"},
        "status_label": {"id": 1, "name": status.0, "status_type": "deployable", "status_meta": status.1},
        "assigned_to": if id == 1 { json!({"id": 4, "username": "jdoe", "name": "Jane Doe", "type": "user"}) } else { Value::Null },
        "custom_fields": {
            "MAC Address": {"field": "_snipeit_mac_address_1", "value": mac, "field_format": "MAC", "element": "text"},
            "Last seen by Census": {"field": "_snipeit_census_last_seen_7", "value": null, "field_format": "ANY", "element": "text"}
        },
        "deleted_at": null
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snipeit_sync_pages_plans_applies_marks_gone_records_and_writes_last_seen_back() {
    let up = upstream::snipeit(
        TOKEN,
        vec![
            hardware(1, "CB-1", ("Deployed", "deployed"), "Laptops", "00:1b:21:00:00:00"),
            hardware(2, "CB-2", ("Ready to Deploy", "deployable"), "Laptops", "01:00:5e:00:00:01"),
            hardware(3, "CB-3", ("Archived", "archived"), "Servers", ""),
            hardware(4, "", ("Out for Repair", "undeployable"), "Printers", ""),
            hardware(5, "CB-5", ("Deployed", "deployed"), "Laptops", "zz:not:a:mac"),
        ],
    )
    .await;
    up.data.lock().page_cap = 2;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("snipeit.token");
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    let extra = "last_seen_field = \"_snipeit_census_last_seen_7\"\n[snipeit.status_map]\n\"Out for Repair\" = \"maintenance\"\n";
    let d = daemon("snipeit", &up.url, &token_file, extra).await;
    for a in [
        json!({"tag": "CB-1", "name": "old name", "type": "endpoint", "lifecycle": "deployed", "owner": "it",
               "macs": ["00:1b:21:00:00:00"], "department": "finance"}),
        json!({"tag": "OLD-9", "name": "gone upstream", "type": "endpoint", "lifecycle": "deployed",
               "external_ids": ["snipeit:9"]}),
    ] {
        let (status, v) = d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await;
        assert_eq!(status, 201, "{v}");
    }
    sighting(&d).await;
    let before = assets(&d).await;

    // A refused token: 502 naming the system, nothing changed.
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(v.to_string().contains("Snipe-IT refused the token (401)"), "{v}");
    assert!(!v.to_string().contains("wrong-token"), "the token is never echoed: {v}");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    // A 500 on the second page: the sync aborts and changes nothing.
    up.data.lock().fail_at = Some(("/api/v1/hardware".into(), 2));
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(v.to_string().contains("500"), "{v}");
    assert_eq!(assets(&d).await, before, "a failed sync writes nothing");
    up.data.lock().fail_at = None;

    // A dry run: the whole plan, nothing written, nothing written back.
    let (status, dry) = sync(&d, "snipeit", true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["records"], 4, "{dry}");
    assert_eq!(dry["added"], json!(["CB-2", "CB-3", "snipeit-4"]), "{dry}");
    let changed: Vec<&str> = dry["changed"].as_array().unwrap().iter().map(|c| c["tag"].as_str().unwrap()).collect();
    assert_eq!(changed, ["CB-1", "OLD-9"], "{dry}");
    assert_eq!(dry["retired_in_source"], json!(["OLD-9"]));
    assert_eq!(dry["links"][0], json!({"tag": "CB-1", "external_id": "snipeit:1", "matched_by": "asset tag"}));
    let skipped = &dry["skipped"][0];
    assert_eq!(skipped["external_id"], "snipeit:5", "{dry}");
    assert!(skipped["reason"].as_str().unwrap().contains("MAC Address"), "{dry}");
    // A group MAC is left off its asset, and the plan says so (review of 2026-12-08).
    assert_eq!(dry["left_out"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(dry["left_out"][0]["external_id"], "snipeit:2", "{dry}");
    assert!(dry["left_out"][0]["reason"].as_str().unwrap().starts_with("MAC 01:00:5e:00:00:01 left off"), "{dry}");
    assert_eq!(assets(&d).await, before, "a dry run writes nothing");
    assert!(up.patches().is_empty());

    // Rate limited twice: waited out, then applied.
    up.data.lock().rate_limited = 2;
    let (status, plan) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["added"], dry["added"]);
    assert_eq!(plan["changed"], dry["changed"]);
    let all = assets(&d).await;
    let cb1 = by_tag(&all, "CB-1");
    assert_eq!(cb1["external_ids"], json!(["snipeit:1"]));
    assert_eq!((cb1["name"].as_str(), cb1["owner"].as_str()), (Some("host-1"), Some("jdoe")));
    assert_eq!((cb1["serial"].as_str(), cb1["model"].as_str()), (Some("SN-0001"), Some("Latitude 7440")));
    assert_eq!(cb1["department"], "finance", "fields Snipe-IT does not hold are kept");
    assert_eq!(
        (by_tag(&all, "CB-2")["lifecycle"].as_str(), by_tag(&all, "CB-2")["type"].as_str()),
        (Some("procurement"), Some("endpoint"))
    );
    assert_eq!(
        (by_tag(&all, "CB-3")["lifecycle"].as_str(), by_tag(&all, "CB-3")["type"].as_str()),
        (Some("decommissioned"), Some("server"))
    );
    assert_eq!(by_tag(&all, "snipeit-4")["lifecycle"], "maintenance");
    assert_eq!(by_tag(&all, "snipeit-4")["type"], "iot");
    let old = by_tag(&all, "OLD-9");
    assert_eq!(old["lifecycle"], "deployed", "never deleted nor retired: only tagged");
    assert_eq!(old["tags"], json!(["retired-in-snipeit"]));
    assert!(all.iter().all(|a| a["tag"] != "CB-5"), "a skipped record adds nothing");
    // Last seen by Census, written to the record whose asset was seen.
    assert_eq!(plan["written_back"], 1, "{plan}");
    assert_eq!(up.patches(), [("/api/v1/hardware/1".to_string(), json!({"_snipeit_census_last_seen_7": today()}))]);

    // Again, nothing changed upstream: nothing changes, nothing is written back.
    let requests = up.requests().len();
    let (status, again) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["added"].as_array().unwrap().len(), again["changed"].as_array().unwrap().len()),
        (0, 0),
        "{again}"
    );
    assert_eq!(again["written_back"], 0);
    assert_eq!(up.patches().len(), 1);
    assert_eq!(up.requests().len() - requests, 3, "three pages, no PATCH: {:?}", &up.requests()[requests..]);
    assert_eq!(assets(&d).await, all);

    // Each change and the sync are in the audit log.
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?action=register.sync", None).await;
    let subjects: Vec<&str> =
        audit["records"].as_array().unwrap().iter().filter_map(|r| r["subject"].as_str()).collect();
    assert!(subjects.contains(&"asset:CB-1") && subjects.contains(&"register"), "{subjects:?}");
    d.stop().await;
}

fn device(id: u64, name: &str, status: &str, role: &str) -> Value {
    json!({
        "id": id, "url": format!("http://netbox.example/api/dcim/devices/{id}/"), "display": name, "name": name,
        "device_type": {"id": 1, "manufacturer": {"id": 1, "name": "Cisco", "slug": "cisco"}, "model": "C9300-48P", "slug": "c9300-48p"},
        "role": {"id": 1, "name": role, "slug": role.to_lowercase()},
        "serial": format!("FOC{id:05}"), "asset_tag": null,
        "site": {"id": 1, "name": "HQ", "slug": "hq"}, "location": null, "rack": {"id": 2, "name": "R12"},
        "status": {"value": status, "label": status}, "primary_ip4": null, "primary_ip6": null,
        "custom_fields": {"census_last_seen": null}, "tags": []
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netbox_sync_follows_next_links_ties_interfaces_and_addresses_and_changes_nothing_on_failure() {
    let up = upstream::netbox(
        TOKEN,
        vec![
            ("/api/dcim/devices/", vec![device(56, "sw-core-01", "active", "Core Switch"), device(57, "pdu-1", "planned", "PDU")]),
            ("/api/virtualization/virtual-machines/", vec![json!({
                "id": 7, "name": "db-01", "status": {"value": "active", "label": "Active"}, "role": null,
                "cluster": {"id": 1, "name": "prod"}, "site": {"id": 1, "name": "HQ"}, "primary_ip4": null,
                "custom_fields": {"census_last_seen": null}})]),
            ("/api/dcim/interfaces/", vec![
                json!({"id": 11, "device": {"id": 56, "name": "sw-core-01"}, "name": "mgmt0", "mac_address": "00:1B:21:00:00:00"}),
                json!({"id": 12, "device": {"id": 57, "name": "pdu-1"}, "name": "eth0", "mac_address": null,
                       "primary_mac_address": {"id": 3, "mac_address": "00:1B:21:00:57:01"}}),
            ]),
            ("/api/virtualization/interfaces/", vec![
                json!({"id": 70, "virtual_machine": {"id": 7, "name": "db-01"}, "name": "ens3", "mac_address": "52:54:00:00:00:07"}),
            ]),
            ("/api/ipam/ip-addresses/", vec![
                json!({"id": 1, "address": "198.18.0.10/24", "status": {"value": "active"},
                       "assigned_object_type": "dcim.interface", "assigned_object_id": 11,
                       "assigned_object": {"id": 11, "device": {"id": 56, "name": "sw-core-01"}, "name": "mgmt0"}}),
                json!({"id": 2, "address": "198.18.0.77/24", "status": {"value": "active"},
                       "assigned_object_type": "virtualization.vminterface", "assigned_object_id": 70,
                       "assigned_object": {"id": 70, "virtual_machine": {"id": 7, "name": "db-01"}, "name": "ens3"}}),
            ]),
        ],
    )
    .await;
    up.data.lock().page_cap = 1;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("netbox.token");
    std::fs::write(&token_file, "nope").unwrap();
    let d = daemon("netbox", &up.url, &token_file, "last_seen_field = \"census_last_seen\"\n").await;
    sighting(&d).await;

    let (status, v) = sync(&d, "netbox", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(v.to_string().contains("NetBox refused the token (403)") && v.to_string().contains("Invalid token"), "{v}");
    std::fs::write(&token_file, TOKEN).unwrap();

    // A 500 on the second page of interfaces, after the devices were read: nothing changes.
    up.data.lock().fail_at = Some(("/api/dcim/interfaces/".into(), 1));
    let (status, v) = sync(&d, "netbox", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(assets(&d).await.is_empty());
    up.data.lock().fail_at = None;

    let (status, dry) = sync(&d, "netbox", true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["added"], json!(["netbox-device-56", "netbox-device-57", "netbox-vm-7"]), "{dry}");
    assert!(assets(&d).await.is_empty(), "a dry run writes nothing");

    up.data.lock().rate_limited = 1;
    let (status, plan) = sync(&d, "netbox", false).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["added"], dry["added"]);
    let all = assets(&d).await;
    let sw = by_tag(&all, "netbox-device-56");
    assert_eq!((sw["type"].as_str(), sw["lifecycle"].as_str()), (Some("network"), Some("deployed")));
    assert_eq!(sw["macs"], json!(["00:1b:21:00:00:00"]));
    assert_eq!(sw["ips"], json!(["198.18.0.10"]));
    assert_eq!(sw["hostnames"], json!(["sw-core-01"]));
    assert_eq!((sw["manufacturer"].as_str(), sw["location"].as_str()), (Some("Cisco"), Some("HQ / R12")));
    let pdu = by_tag(&all, "netbox-device-57");
    assert_eq!((pdu["type"].as_str(), pdu["lifecycle"].as_str()), (Some("iot"), Some("procurement")));
    assert_eq!(pdu["macs"], json!(["00:1b:21:00:57:01"]));
    let vm = by_tag(&all, "netbox-vm-7");
    assert_eq!((vm["type"].as_str(), vm["location"].as_str()), (Some("server"), Some("HQ / prod")));
    assert_eq!((vm["macs"][0].as_str(), vm["ips"][0].as_str()), (Some("52:54:00:00:00:07"), Some("198.18.0.77")));
    assert_eq!(vm["external_ids"], json!(["netbox:vm/7"]));
    // The switch was seen (its MAC at 198.18.0.10), once the sync tied it to
    // the register: the next sync writes its last sighting back.
    d.admin_json(Method::POST, "/api/v1/reconcile", None).await;
    d.settle().await;

    let (status, again) = sync(&d, "netbox", false).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["added"].as_array().unwrap().len(), again["changed"].as_array().unwrap().len()),
        (0, 0),
        "{again}"
    );
    let patched: Vec<(String, Value)> = up.patches();
    assert_eq!(
        patched,
        [("/api/dcim/devices/56/".to_string(), json!({"custom_fields": {"census_last_seen": today()}}))],
        "{again}"
    );
    let (_, third) = sync(&d, "netbox", false).await;
    assert_eq!((third["changed"].as_array().unwrap().len(), third["written_back"].as_u64()), (0, Some(0)), "{third}");
    assert_eq!(up.patches().len(), 1);

    // The PDU is deleted in NetBox: its asset stays, tagged.
    up.data.lock().lists.get_mut("/api/dcim/devices/").unwrap().retain(|d| d["id"] != 57);
    let (status, gone) = sync(&d, "netbox", false).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["retired_in_source"], json!(["netbox-device-57"]));
    let all = assets(&d).await;
    assert_eq!(by_tag(&all, "netbox-device-57")["tags"], json!(["retired-in-netbox"]));
    assert_eq!(all.len(), 3);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_does_not_tag_the_register_and_an_unconfigured_system_is_named() {
    let up = upstream::snipeit(TOKEN, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("t");
    std::fs::write(&token_file, TOKEN).unwrap();
    let d = daemon("snipeit", &up.url, &token_file, "").await;
    let a =
        json!({"tag": "A-1", "name": "a", "type": "endpoint", "lifecycle": "deployed", "external_ids": ["snipeit:1"]});
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("no records while 1 assets are linked"), "{v}");
    assert!(assets(&d).await[0].get("tags").is_none_or(|t| t == &json!([])));
    let (status, v) = sync(&d, "netbox", false).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("[sync.netbox]"), "{v}");
    let (status, _) = sync(&d, "jira", false).await;
    assert_eq!(status, 404);
    // A viewer cannot sync.
    let r = d.req(Method::POST, "/api/v1/sync/snipeit", Some("not-a-token"), None).await;
    assert_eq!(r.status().as_u16(), 401);
    let _ = ADMIN;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_deleted_while_the_pages_are_read_aborts_the_sync_and_a_dry_run_says_what_a_real_run_refuses() {
    let rows: Vec<Value> =
        (1..=8).map(|i| hardware(i, &format!("CB-{i}"), ("Deployed", "deployed"), "Laptops", "")).collect();
    let up = upstream::snipeit(TOKEN, rows).await;
    up.data.lock().page_cap = 3;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("t");
    std::fs::write(&token_file, TOKEN).unwrap();
    let d = daemon("snipeit", &up.url, &token_file, "").await;
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(assets(&d).await.len(), 8);

    // Asset 2 is deleted after the first page was read: offsets shift, and
    // the read is refused rather than tagging the wrong asset.
    up.data.lock().delete_after = Some((up.requests().len() + 1, 2));
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(v.to_string().contains("changed while it was read"), "{v}");
    assert!(assets(&d).await.iter().all(|a| a.get("tags").is_none_or(|t| t == &json!([]))), "nothing tagged");
    // Read again whole: only asset 2 is tagged.
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retired_in_source"], json!(["CB-2"]));

    // One deleted and one added between two pages: the total stays the same
    // and the offsets shift, so CB-4 is never read. Its absence is
    // confirmed before anything is tagged: it is still there, so the sync stops.
    let extra = hardware(9, "CB-9", ("Deployed", "deployed"), "Laptops", "");
    {
        let mut data = up.data.lock();
        data.delete_after = Some((data.requests.len() + 1, 1));
        data.add_with_delete = Some(extra);
    }
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 502, "{v}");
    assert!(v.to_string().contains("still there"), "{v}");
    assert_eq!(assets(&d).await.iter().filter(|a| a["tags"] == json!(["retired-in-snipeit"])).count(), 1, "CB-2 only");
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retired_in_source"], json!(["CB-1"]), "read again whole: the one deleted");
    assert_eq!(v["added"], json!(["CB-9"]));

    // Six more vanish at once: a dry run shows the plan and why a real run stops; --force applies it.
    up.data.lock().hardware.retain(|r| r["id"] == 9);
    let (status, dry) = sync(&d, "snipeit", true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["retired_in_source"].as_array().unwrap().len(), 6, "{dry}");
    assert!(dry["would_refuse"].as_str().unwrap().contains("--force"), "{dry}");
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = d.admin_json(Method::POST, "/api/v1/sync/snipeit?force=true", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retired_in_source"].as_array().unwrap().len(), 6);
    // Nothing changed since: no transaction, no audit record.
    let (_, before) = d.admin_json(Method::GET, "/api/v1/audit?action=register.sync", None).await;
    let (status, v) = sync(&d, "snipeit", false).await;
    assert_eq!(status, 200, "{v}");
    let (_, after) = d.admin_json(Method::GET, "/api/v1/audit?action=register.sync", None).await;
    assert_eq!(before["records"].as_array().unwrap().len(), after["records"].as_array().unwrap().len());
    d.stop().await;
}
