//! Coverage sources through the real use cases, ingest and reconcile: an
//! EDR export missing two deployed endpoints and still listing a disposed
//! laptop raises exactly two `not-in-source` and one
//! `retired-still-enrolled` (and a device the register does not know,
//! `source-unknown`); a corrected export resolves them; a source past its
//! maximum age, or never loaded, is `source-stale`; a bad export stores nothing.

mod common;
mod scenario;

use censusd::alerts::AlertKind;
use censusd::sources::{Field, SourceDef, SourceFormat, parse_map};
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};

fn admin() -> censusd::people::Principal {
    censusd::people::Principal::builtin_admin()
}

fn tags(s: &Scenario, kind: AlertKind) -> Vec<String> {
    let mut t: Vec<String> = s.live(kind).into_iter().filter_map(|a| a.tag).collect();
    t.sort();
    t
}

fn edr(s: &Scenario, name: &str, now: i64) {
    let def = SourceDef {
        name: name.into(),
        format: SourceFormat::Csv,
        key: Field::Mac,
        map: parse_map("Agent ID=id,Device Name=hostname,MAC Addresses=mac").unwrap(),
        expected_types: vec![censusd::register::AssetType::Endpoint, censusd::register::AssetType::Server],
        max_age_days: 7,
    };
    censusd::app::sources::define(&s.rec, &admin(), def, now).unwrap();
}

const EXPORT: &str = "Agent ID,Device Name,OS,MAC Addresses,Last Seen\n\
    a1,WS-1.corp.example,Windows 11,00-1B-21-00-70-01,2026-11-01\n\
    a2,ws-2,Windows 11,00:1b:21:00:70:02,2026-11-01\n\
    a5,srv-1,Debian 12,00:1b:21:00:70:05,2026-11-01\n\
    a9,lt-9,Windows 10,00:1b:21:00:70:09,2026-10-01\n\
    a7,kiosk-7,Windows 10,00:1b:21:00:70:77,2026-11-01\n";

const CORRECTED: &str = "Agent ID,Device Name,OS,MAC Addresses,Last Seen\n\
    a1,WS-1.corp.example,Windows 11,00-1B-21-00-70-01,2026-11-02\n\
    a2,ws-2,Windows 11,00:1b:21:00:70:02,2026-11-02\n\
    a3,ws-3,Windows 11,00:1b:21:00:70:03,2026-11-02\n\
    a4,,Windows 11,00:1b:21:00:70:04,2026-11-02\n\
    a5,srv-1,Debian 12,00:1b:21:00:70:05,2026-11-02\n";

#[test]
fn an_edr_export_missing_two_endpoints_and_listing_a_disposed_laptop_raises_two_and_one() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "WS-1", "name": "a", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:01"] },
        { "tag": "WS-2", "name": "b", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:02"] },
        { "tag": "WS-3", "name": "c", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:03"] },
        { "tag": "WS-4", "name": "d", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:04"] },
        { "tag": "SRV-1", "name": "e", "type": "server", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:05"] },
        // Not expected in the EDR, and not on the network: neither is an alert.
        { "tag": "PRN-1", "name": "printer", "type": "iot", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:06"] },
        { "tag": "WS-8", "name": "in a drawer", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:70:08"] },
        { "tag": "LT-9", "name": "old laptop", "type": "endpoint", "lifecycle": "disposed", "lifecycle_since": "2026-10-15",
          "macs": ["00:1b:21:00:70:09"] },
    ]));
    let hosts: Vec<scenario::H> =
        (1..=6).map(|i| h(&format!("198.18.0.{}", 70 + i), &format!("00:1b:21:00:70:0{i}"))).collect();
    s.sweep(&LAB, T0, &hosts);
    let now = T0 + HOUR;
    edr(&s, "edr", now);
    // Defined, not loaded: stale, and nothing said about assets from an empty list.
    s.full(now);
    assert_eq!(s.live(AlertKind::SourceStale).len(), 1);
    assert!(s.live(AlertKind::NotInSource).is_empty());

    // A bad export is refused by row and column, and stores nothing.
    let bad = format!("{EXPORT}a8,ws-8,Windows 11,not-a-mac,2026-11-01\n");
    let Err(censusd::app::sources::SourceError::File(e)) =
        censusd::app::sources::load(&s.rec, &admin(), "edr", bad.as_bytes(), false, now)
    else {
        panic!("a bad export was taken");
    };
    assert_eq!((e[0].row, e[0].column.as_str()), (6, "MAC Addresses"), "{e:?}");
    assert_eq!(censusd::app::sources::list(&s.rec, now).unwrap()[0].records, 0, "nothing stored");

    let out = censusd::app::sources::load(&s.rec, &admin(), "edr", EXPORT.as_bytes(), false, now).unwrap();
    assert_eq!((out.records, out.added, out.removed), (5, 5, 0));
    s.full(now + 60_000);
    assert_eq!(tags(&s, AlertKind::NotInSource), ["WS-3", "WS-4"]);
    assert_eq!(tags(&s, AlertKind::RetiredStillEnrolled), ["LT-9"]);
    let unknown = s.live(AlertKind::SourceUnknown);
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].summary.contains("kiosk-7"), "{}", unknown[0].summary);
    assert!(s.live(AlertKind::SourceStale).is_empty(), "loaded");
    let enrolled = &s.live(AlertKind::RetiredStillEnrolled)[0];
    let ev = serde_json::to_value(&enrolled.evidence).unwrap();
    assert_eq!(ev["listed"][0]["matched_by"], "mac 00:1b:21:00:70:09", "{ev}");
    assert_eq!(ev["listed"][0]["record"]["id"], "a9");
    let step = |now: i64| {
        let c = censusd::app::retirement::one(&s.rec, "LT-9", now).unwrap();
        c.steps.into_iter().find(|st| st.step == "coverage-sources").unwrap()
    };
    let st = step(now + 2 * 60_000);
    assert_eq!(st.state, censusd::retirement::StepState::Failed, "{}", st.evidence);
    assert!(st.evidence.contains("edr"), "{}", st.evidence);

    // The corrected export resolves all three kinds; the retirement step passes.
    let dry = censusd::app::sources::load(&s.rec, &admin(), "edr", CORRECTED.as_bytes(), true, now + HOUR).unwrap();
    assert_eq!((dry.added, dry.removed, dry.dry_run), (2, 2, true));
    assert_eq!(censusd::app::sources::list(&s.rec, now).unwrap()[0].records, 5, "a dry run stores nothing");
    censusd::app::sources::load(&s.rec, &admin(), "edr", CORRECTED.as_bytes(), false, now + HOUR).unwrap();
    s.full(now + HOUR + 60_000);
    for kind in [AlertKind::NotInSource, AlertKind::RetiredStillEnrolled, AlertKind::SourceUnknown] {
        assert!(s.live(kind).is_empty(), "{kind} resolved");
        assert!(s.of_kind(kind).iter().all(|a| a.state == censusd::alerts::AlertState::Resolved));
    }
    let st = step(now + HOUR + 2 * 60_000);
    assert_eq!(st.state, censusd::retirement::StepState::Passed, "{}", st.evidence);

    // Past its maximum age: reported, and its last list still judged.
    s.full(now + HOUR + 8 * DAY);
    let stale = s.live(AlertKind::SourceStale);
    assert_eq!(stale.len(), 1);
    assert!(stale[0].summary.contains("maximum age of 7 days"), "{}", stale[0].summary);
    censusd::app::sources::load(&s.rec, &admin(), "edr", CORRECTED.as_bytes(), false, now + HOUR + 8 * DAY).unwrap();
    s.full(now + HOUR + 8 * DAY + 60_000);
    assert!(s.live(AlertKind::SourceStale).is_empty());
    let audit = s
        .store
        .audit(&censusd::audit::AuditFilter {
            action: Some(censusd::audit::AuditAction::SourceLoad),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit.len(), 3, "three loads stored, the refused and the dry one not");
}

/// A definition is checked field by field; a load of a source never
/// defined says so.
#[test]
fn bad_definitions_and_unknown_sources_are_refused_by_name() {
    let s = Scenario::new();
    let def = SourceDef {
        name: "EDR console".into(),
        format: SourceFormat::Json,
        key: Field::Id,
        map: parse_map("sn=id").unwrap(),
        expected_types: vec![],
        max_age_days: 0,
    };
    let Err(censusd::app::sources::SourceError::Invalid(p)) = censusd::app::sources::define(&s.rec, &admin(), def, T0)
    else {
        panic!("a bad definition was taken");
    };
    let fields: Vec<&str> = p.iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, ["name", "key", "max_age_days"]);
    let e = censusd::app::sources::load(&s.rec, &admin(), "mdm", b"[]", false, T0).unwrap_err();
    assert!(e.to_string().contains("no coverage source `mdm`"), "{e}");
}

/// Over HTTP: an admin defines a source and loads its export; a viewer
/// lists it; bodies that do not fit are refused naming the field or row.
#[tokio::test]
async fn sources_are_defined_loaded_and_listed_over_the_api() {
    use reqwest::Method;
    let d = common::Daemon::start().await;
    let def = serde_json::json!({ "name": "mdm", "format": "json", "key": "hostname",
        "map": [{ "column": "device.name", "field": "hostname" }, { "column": "wifi_mac", "field": "mac" }],
        "expected_types": ["endpoint"], "max_age_days": 3 });
    assert_eq!(d.admin_json(Method::PUT, "/api/v1/sources/mdm", Some(def.clone())).await.0, 200);
    let (status, e) = d.admin_json(Method::PUT, "/api/v1/sources/other", Some(def.clone())).await;
    assert_eq!(status, 400, "{e}");
    let mut bad = def.clone();
    bad["key"] = "owner".into();
    let (status, e) = d.admin_json(Method::PUT, "/api/v1/sources/mdm", Some(bad)).await;
    assert_eq!(status, 400, "{e}");
    let export = serde_json::json!([{ "device": { "name": "LAPTOP-1" }, "wifi_mac": "00:1b:21:00:80:01" },
                                    { "device": { "name": "laptop-2" } }]);
    let (status, o) = d.admin_json(Method::POST, "/api/v1/sources/mdm/load?dry_run=true", Some(export.clone())).await;
    assert_eq!((status, o["records"].as_u64(), o["dry_run"].as_bool()), (200, Some(2), Some(true)), "{o}");
    let (status, o) = d.admin_json(Method::POST, "/api/v1/sources/mdm/load", Some(export)).await;
    assert_eq!((status, o["added"].as_u64()), (200, Some(2)), "{o}");
    let broken = serde_json::json!([{ "device": { "name": "x" }, "wifi_mac": "nope" }]);
    let (status, e) = d.admin_json(Method::POST, "/api/v1/sources/mdm/load", Some(broken)).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        (e["details"][0]["row"].as_u64(), e["details"][0]["column"].as_str()),
        (Some(1), Some("wifi_mac")),
        "{e}"
    );
    assert_eq!(d.admin_json(Method::POST, "/api/v1/sources/nope/load", Some(serde_json::json!([]))).await.0, 404);
    let (_, list) = d.admin_json(Method::GET, "/api/v1/sources", None).await;
    assert_eq!((list[0]["name"].as_str(), list[0]["records"].as_u64()), (Some("mdm"), Some(2)), "{list}");
    assert_eq!(list[0]["stale"], false);
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?action=source.define", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 1, "defined once; the refused changes are not recorded");
    // The name comes from the path and the maximum age defaults; a source is removed.
    let short = serde_json::json!({ "format": "csv", "key": "mac", "map": [{ "column": "m", "field": "mac" }] });
    let (status, v) = d.admin_json(Method::PUT, "/api/v1/sources/edr", Some(short)).await;
    assert_eq!((status, v["name"].as_str(), v["max_age_days"].as_u64()), (200, Some("edr"), Some(7)), "{v}");
    assert_eq!(d.admin_json(Method::DELETE, "/api/v1/sources/edr", None).await.0, 204);
    assert_eq!(d.admin_json(Method::DELETE, "/api/v1/sources/edr", None).await.0, 404);
}

fn define(s: &Scenario, name: &str, key: Field, map: &str, format: SourceFormat, now: i64) {
    let def = SourceDef {
        name: name.into(),
        format,
        key,
        map: parse_map(map).unwrap(),
        expected_types: vec![censusd::register::AssetType::Endpoint],
        max_age_days: 7,
    };
    censusd::app::sources::define(&s.rec, &admin(), def, now).unwrap();
}

/// Break-attempt regressions: a disposal right after a load is checked
/// against the loaded list (no full reconcile between); names in other
/// domains are other names; a bare name two assets share is neither's; a
/// redefinition that reads the export another way drops the old list; a
/// flood of unknown devices is capped; a removed source's alerts resolve.
#[test]
fn second_break_attempt_regressions() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "EP-5", "name": "a", "type": "endpoint", "lifecycle": "deployed", "hostnames": ["ep5.corp.example"],
          "macs": ["00:1b:21:00:90:05"] },
        { "tag": "EP-6", "name": "b", "type": "endpoint", "lifecycle": "deployed", "hostnames": ["dup.corp.example"],
          "macs": ["00:1b:21:00:90:06"] },
        { "tag": "EP-7", "name": "c", "type": "endpoint", "lifecycle": "deployed", "hostnames": ["dup.lab.example"],
          "macs": ["00:1b:21:00:90:07"] },
        { "tag": "LT-1", "name": "d", "type": "endpoint", "lifecycle": "disposed", "lifecycle_since": "2026-10-01",
          "hostnames": ["lt1.corp.example"] },
    ]));
    let hosts: Vec<scenario::H> =
        [5, 6, 7].iter().map(|i| h(&format!("198.18.0.9{i}"), &format!("00:1b:21:00:90:0{i}"))).collect();
    s.sweep(&LAB, T0, &hosts);
    let now = T0 + HOUR;
    define(&s, "edr", Field::Mac, "mac=mac,name=hostname", SourceFormat::Csv, now);
    let export = "mac,name\n00:1b:21:00:90:05,ep5\n";
    censusd::app::sources::load(&s.rec, &admin(), "edr", export.as_bytes(), false, now).unwrap();
    define(&s, "mdm", Field::Hostname, "name=hostname", SourceFormat::Csv, now);
    censusd::app::sources::load(&s.rec, &admin(), "mdm", b"name\nlt1.other.example\ndup\nep5\n", false, now).unwrap();
    s.full(now + 60_000);
    // lt1.other.example is not LT-1 (lt1.corp.example).
    assert!(s.live(AlertKind::RetiredStillEnrolled).is_empty(), "{:#?}", s.live(AlertKind::RetiredStillEnrolled));
    // `dup` is EP-6's and EP-7's short name alike: neither is in the MDM (nor in the EDR).
    assert_eq!(tags(&s, AlertKind::NotInSource), ["EP-6", "EP-7"]);
    let ev = serde_json::to_value(&s.live(AlertKind::NotInSource)[0].evidence).unwrap();
    let sources: Vec<&str> = ev["sources"].as_array().unwrap().iter().map(|x| x["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["edr", "mdm"], "{ev}");

    // EP-5 is decommissioned and at once disposed: the EDR still lists it, so
    // the disposal is refused, naming the step, before any reconcile.
    let mut a = s.store.asset("EP-5").unwrap().unwrap();
    a.lifecycle = censusd::register::Lifecycle::Decommissioned;
    censusd::app::register::update(&s.rec, &admin(), &a, now + 2 * 60_000).unwrap();
    censusd::app::retirement::attest_wipe(&s.rec, &admin(), "EP-5", "W-1", "", now + 3 * 60_000).unwrap();
    let e = censusd::app::retirement::dispose(&s.rec, &admin(), "EP-5", None, now + 4 * 60_000).unwrap_err();
    assert!(e.to_string().contains("coverage-sources"), "{e}");

    // Another key reads the export another way: the old list is dropped.
    define(&s, "edr", Field::Hostname, "mac=mac,name=hostname", SourceFormat::Csv, now + HOUR);
    let listed = censusd::app::sources::list(&s.rec, now + HOUR).unwrap();
    let edr = listed.iter().find(|x| x.def.name == "edr").unwrap();
    assert_eq!((edr.records, edr.loaded_ms), (0, None));

    // 600 devices nobody registered: 500 alerts, not 600.
    let mut big = String::from("name\n");
    for i in 0..600 {
        big.push_str(&format!("kiosk-{i}\n"));
    }
    censusd::app::sources::load(&s.rec, &admin(), "mdm", big.as_bytes(), false, now + HOUR).unwrap();
    s.full(now + HOUR + 60_000);
    assert_eq!(s.live(AlertKind::SourceUnknown).len(), censusd::reconcile::sources::MAX_UNKNOWN_PER_SOURCE);
    // Removed: its alerts resolve.
    assert!(censusd::app::sources::remove(&s.rec, &admin(), "mdm", now + 2 * HOUR).unwrap());
    assert!(!censusd::app::sources::remove(&s.rec, &admin(), "mdm", now + 2 * HOUR).unwrap());
    s.full(now + 2 * HOUR + 60_000);
    assert!(s.live(AlertKind::SourceUnknown).is_empty());

    // A stage beginning tomorrow (UTC) is refused too.
    let tomorrow = censusd::reconcile::rules::day_of(censusd::store::now_ms() + DAY);
    let mut a = s.store.asset("EP-6").unwrap().unwrap();
    a.lifecycle_since = Some(tomorrow);
    let e = censusd::register::model::asset_from_json(serde_json::to_value(&a).unwrap()).unwrap_err();
    assert_eq!(e[0].field, "lifecycle_since", "{e:?}");
}

/// #17 item 1: the register's serial number is an identity key for
/// sources — an MDM keyed by serial lists a laptop whose MAC it never saw.
#[test]
fn a_source_keyed_by_serial_matches_the_registers_serial_numbers() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "LT-20", "name": "a", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:a0:20"],
          "serial": "C02XK1ABJG5H", "manufacturer": "Apple", "model": "MacBook Pro 14", "location": "HQ/3/F12",
          "external_ids": ["SnipeIT:1234"] },
        { "tag": "LT-21", "name": "b", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:a0:21"],
          "serial": "PF3ZX9QK" },
    ]));
    let a = s.store.asset("LT-20").unwrap().unwrap();
    assert_eq!(a.external_ids, ["snipeit:1234"], "the system part lowercase");
    s.sweep(&LAB, T0, &[h("198.18.0.120", "00:1b:21:00:a0:20"), h("198.18.0.121", "00:1b:21:00:a0:21")]);
    let now = T0 + HOUR;
    define(&s, "mdm", Field::Serial, "Serial Number=serial,Device=hostname", SourceFormat::Csv, now);
    censusd::app::sources::load(&s.rec, &admin(), "mdm", b"Serial Number,Device\nc02xk1abjg5h,lt-20\n", false, now)
        .unwrap();
    s.full(now + 60_000);
    assert_eq!(tags(&s, AlertKind::NotInSource), ["LT-21"], "LT-20 is listed by its serial number");
    let who = s.whois("LT-20", now + 60_000).unwrap();
    let asset = who.asset.unwrap();
    assert_eq!((asset.manufacturer.as_str(), asset.location.as_str()), ("Apple", "HQ/3/F12"));
}

/// Third break attempt's regressions: a serial two assets share is
/// neither's (placeholders such as "To Be Filled By O.E.M."); a source
/// keyed by its own ids matches the register's external ids `NAME:ID`;
/// whois finds an asset by serial number or external id; the inventory
/// search has terms for the new fields; ids with ',' and source serials
/// with hidden characters or given as JSON numbers are refused.
#[test]
fn third_break_attempt_regressions() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "S-A", "name": "a", "type": "server", "lifecycle": "deployed", "macs": ["00:1b:21:00:b0:0a"], "serial": "DUPSER" },
        { "tag": "S-B", "name": "b", "type": "server", "lifecycle": "deployed", "macs": ["00:1b:21:00:b0:0b"], "serial": "dupser" },
        { "tag": "S-C", "name": "c", "type": "server", "lifecycle": "deployed", "macs": ["00:1b:21:00:b0:0c"],
          "serial": "UNIQ1", "external_ids": ["snipeit:1234"] },
    ]));
    s.sweep(
        &LAB,
        T0,
        &[
            h("198.18.0.170", "00:1b:21:00:b0:0a"),
            h("198.18.0.171", "00:1b:21:00:b0:0b"),
            h("198.18.0.172", "00:1b:21:00:b0:0c"),
        ],
    );
    let now = T0 + HOUR;
    let def = |name: &str, key: Field, map: &str| SourceDef {
        name: name.into(),
        format: SourceFormat::Csv,
        key,
        map: parse_map(map).unwrap(),
        expected_types: vec![censusd::register::AssetType::Server],
        max_age_days: 7,
    };
    censusd::app::sources::define(&s.rec, &admin(), def("edr", Field::Serial, "Serial=serial"), now).unwrap();
    censusd::app::sources::load(&s.rec, &admin(), "edr", b"Serial\nDUPSER\nuniq1\n", false, now).unwrap();
    censusd::app::sources::define(&s.rec, &admin(), def("snipeit", Field::Id, "ID=id"), now).unwrap();
    censusd::app::sources::load(&s.rec, &admin(), "snipeit", b"ID\n1234\n", false, now).unwrap();
    s.full(now + 60_000);
    assert_eq!(tags(&s, AlertKind::NotInSource), ["S-A", "S-B"], "a shared serial is neither's; S-C by id and serial");
    // A record that is one asset's by MAC is not another's by a name they share.
    censusd::app::sources::define(&s.rec, &admin(), def("av", Field::Mac, "mac=mac,name=hostname"), now).unwrap();
    let av = "mac,name\n00:1b:21:00:b0:0a,s-c\n00:1b:21:00:b0:0b,\n";
    censusd::app::sources::load(&s.rec, &admin(), "av", av.as_bytes(), false, now).unwrap();
    let mut c = s.store.asset("S-C").unwrap().unwrap();
    c.hostnames = vec!["s-c".into()];
    s.store.update_asset(&c, "test", &mut censusd::store::unaudited()).unwrap();
    s.rec.register_changed();
    s.full(now + 2 * 60_000);
    let missing = s.live(AlertKind::NotInSource);
    let c_missing = missing.iter().find(|a| a.tag.as_deref() == Some("S-C")).expect("S-C is not in av's list");
    assert!(c_missing.summary.contains("av"), "{}", c_missing.summary);
    assert!(s.live(AlertKind::SourceUnknown).is_empty(), "snipeit's 1234 is S-C's snipeit:1234");

    let who = s.whois("SnipeIT:1234", now).unwrap();
    assert_eq!((who.query_kind, who.asset.map(|a| a.tag)), ("external_id", Some("S-C".to_string())));
    assert_eq!(s.whois("uniq1", now).unwrap().asset.map(|a| a.tag), Some("S-C".to_string()));
    let query = censusd::register::search::AssetQuery::parse("serial:uniq id:snipeit").unwrap();
    let register = s.store.assets().unwrap();
    let hits: Vec<&str> =
        register.iter().filter(|a| query.matches(a, &Default::default(), now)).map(|a| a.tag.as_str()).collect();
    assert_eq!(hits, ["S-C"]);

    let bad = serde_json::json!({ "tag": "X", "name": "x", "type": "server", "lifecycle": "deployed",
        "external_ids": ["ldap:cn=srv1,ou=computers"] });
    assert_eq!(censusd::register::model::asset_from_json(bad).unwrap_err()[0].field, "external_ids[0]");
    let e = censusd::app::sources::load(&s.rec, &admin(), "edr", "Serial\nA\u{1b}[31m\n".as_bytes(), false, now);
    assert!(matches!(e, Err(censusd::app::sources::SourceError::File(_))), "{e:?}");
    let json = def("mdm", Field::Serial, "sn=serial");
    censusd::app::sources::define(&s.rec, &admin(), SourceDef { format: SourceFormat::Json, ..json }, now).unwrap();
    let e = censusd::app::sources::load(&s.rec, &admin(), "mdm", br#"[{"sn": 123456789012345678901234}]"#, false, now);
    let Err(censusd::app::sources::SourceError::File(p)) = e else { panic!("a number taken as a serial") };
    assert_eq!((p[0].row, p[0].column.as_str()), (1, "sn"), "{p:?}");
}
