use super::*;
use crate::register::model::asset_from_json;

fn asset(v: Value) -> Asset {
    let mut base = serde_json::json!({"name": "x", "type": "endpoint", "lifecycle": "deployed"});
    for (k, x) in v.as_object().unwrap() {
        base[k] = x.clone();
    }
    asset_from_json(base).unwrap()
}

fn rec(id: &str) -> UpstreamRecord {
    UpstreamRecord { id: id.into(), status_meta: "deployed".into(), ..Default::default() }
}

fn prep(current: &[Asset], records: &[UpstreamRecord]) -> Prepared {
    prepare(System::SnipeIt, current, records, &Mapping::default(), &ReadExtras::default())
}

#[test]
fn records_match_by_external_id_then_tag_then_serial_then_mac() {
    let current = [
        asset(serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"]})),
        asset(serde_json::json!({"tag": "A-2"})),
        asset(serde_json::json!({"tag": "A-3", "serial": "C02XK1ABJGH5"})),
        asset(serde_json::json!({"tag": "A-4", "macs": ["02:00:00:00:00:04"]})),
    ];
    let records = [
        UpstreamRecord { asset_tag: Some("A-2".into()), ..rec("1") },
        UpstreamRecord { asset_tag: Some("a-2".into()), ..rec("2") },
        UpstreamRecord { serial: " c02xk1abjgh5".into(), ..rec("3") },
        UpstreamRecord { macs: vec!["02-00-00-00-00-04".parse().unwrap()], ..rec("4") },
    ];
    let p = prep(&current, &records);
    let tags: Vec<&str> = p.patches.iter().map(|x| x.tag.as_str()).collect();
    assert_eq!(tags, ["A-1", "A-2", "A-3", "A-4"]);
    let how: Vec<(&str, &str)> = p.links.iter().map(|l| (l.tag.as_str(), l.matched_by.as_str())).collect();
    assert_eq!(how, [("A-2", "asset tag"), ("A-3", "serial"), ("A-4", "MAC 02:00:00:00:00:04")]);
    assert!(p.skipped.is_empty());
    assert_eq!(p.patches[1].values["external_ids"], serde_json::json!(["snipeit:2"]));
}

#[test]
fn an_asset_linked_to_another_record_is_not_taken_by_tag_and_a_second_claim_is_skipped() {
    let current = [asset(serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"], "serial": "SER1"}))];
    // Record 2 carries A-1's tag, but A-1 is record 1's: record 2 is a new asset.
    let p = prep(&current, &[rec("1"), UpstreamRecord { asset_tag: Some("A-1".into()), ..rec("2") }]);
    assert_eq!(p.patches[1].tag, "snipeit-2");
    assert_eq!(p.links[0].matched_by, "new asset");
    // Two records with one serial on an unlinked asset: the first takes it.
    let current = [asset(serde_json::json!({"tag": "A-9", "serial": "SER9"}))];
    let p = prep(
        &current,
        &[UpstreamRecord { serial: "SER9".into(), ..rec("5") }, UpstreamRecord { serial: "SER9".into(), ..rec("6") }],
    );
    assert_eq!(p.patches.len(), 1);
    assert_eq!(p.skipped[0].external_id, "snipeit:6");
    assert!(p.skipped[0].reason.contains("A-9") && p.skipped[0].reason.contains("snipeit:5"), "{:?}", p.skipped);
}

#[test]
fn a_serial_two_assets_share_matches_neither() {
    let current = [
        asset(serde_json::json!({"tag": "A-1", "serial": "DUP1"})),
        asset(serde_json::json!({"tag": "A-2", "serial": "DUP1"})),
    ];
    let p = prep(&current, &[UpstreamRecord { serial: "DUP1".into(), ..rec("7") }]);
    assert!(p.patches.is_empty());
    assert!(p.skipped[0].reason.contains("2 assets (A-1, A-2)"), "{:?}", p.skipped);
}

#[test]
fn new_assets_get_their_tag_or_a_generated_one_and_an_unmapped_status_is_skipped() {
    let current = [asset(serde_json::json!({"tag": "TAKEN", "external_ids": ["snipeit:99"]}))];
    let records = [
        UpstreamRecord { asset_tag: Some("CB-7".into()), name: "lt-7".into(), kind: "Laptops".into(), ..rec("7") },
        UpstreamRecord { asset_tag: Some("TAKEN".into()), ..rec("8") },
        UpstreamRecord { status_meta: String::new(), status: "Weird".into(), ..rec("9") },
        rec("99"),
    ];
    let p = prep(&current, &records);
    let new: Vec<(&str, &Value, &Value)> = p
        .patches
        .iter()
        .filter(|x| x.tag != "TAKEN")
        .map(|x| (x.tag.as_str(), &x.values["type"], &x.values["name"]))
        .collect();
    assert_eq!(new[0], ("CB-7", &serde_json::json!("endpoint"), &serde_json::json!("lt-7")));
    assert_eq!(new[1], ("snipeit-8", &serde_json::json!("other"), &serde_json::json!("TAKEN")));
    assert!(p.skipped[0].reason.contains("`Weird`") && p.skipped[0].reason.contains("status_map"), "{:?}", p.skipped);
}

#[test]
fn a_record_gone_upstream_tags_its_asset_and_coming_back_removes_the_tag() {
    let current = [
        asset(serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"], "tags": ["pci"]})),
        asset(serde_json::json!({"tag": "A-2", "external_ids": ["snipeit:2", "netbox:device/2"]})),
        asset(serde_json::json!({"tag": "A-3", "external_ids": ["netbox:device/3"]})),
    ];
    let p = prep(&current, &[rec("2")]);
    assert_eq!(p.retired_in_source, ["A-1"]);
    assert_eq!(p.linked, 2);
    let mark = p.patches.iter().find(|x| x.tag == "A-1").unwrap();
    assert_eq!(mark.values["tags"], serde_json::json!(["pci", "retired-in-snipeit"]));
    assert_eq!(p.rows[&mark.row], "snipeit:1");
    // Tagged already: nothing more to do; back upstream: the tag goes.
    let tagged = [asset(
        serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"], "tags": ["pci", "retired-in-snipeit"]}),
    )];
    assert!(prep(&tagged, &[rec("5")]).retired_in_source.is_empty());
    let back = prep(&tagged, &[rec("1")]);
    assert_eq!(back.patches[0].values["tags"], serde_json::json!(["pci"]));
}

#[test]
fn lists_are_added_to_a_disposed_asset_stays_disposed_and_empty_fields_keep_census_values() {
    let current = [asset(serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"], "lifecycle": "disposed",
        "macs": ["02:00:00:00:00:01"], "serial": "KEEP", "location": "HQ"}))];
    let r = UpstreamRecord {
        macs: vec!["02:00:00:00:00:02".parse().unwrap(), "02:00:00:00:00:01".parse().unwrap()],
        status_meta: "archived".into(),
        ..rec("1")
    };
    let p = prep(&current, &[r]);
    let v = &p.patches[0].values;
    assert_eq!(v["macs"], serde_json::json!(["02:00:00:00:00:01", "02:00:00:00:00:02"]));
    assert!(!v.contains_key("lifecycle") && !v.contains_key("serial") && !v.contains_key("location"), "{v:?}");
}

#[test]
fn placeholder_serials_match_nothing() {
    let current = [asset(serde_json::json!({"tag": "A-1", "serial": "To Be Filled By O.E.M."}))];
    let p = prep(&current, &[UpstreamRecord { serial: "to be filled by o.e.m.".into(), ..rec("3") }]);
    assert_eq!(p.links[0].matched_by, "new asset");
    assert_eq!(serial_key("ab1"), "");
}

#[test]
fn placeholder_and_repeated_serials_match_nothing() {
    for placeholder in ["00000000", "XXXXXXXX", "Chassis Serial Number", "INVALID", "Unknown", "1234567890"] {
        assert_eq!(serial_key(placeholder), "", "{placeholder}");
    }
    assert_eq!(serial_key("C02XK1ABJGH5"), "c02xk1abjgh5");
}

#[test]
fn an_asset_linked_to_both_systems_is_only_filled_not_rewritten_by_either() {
    let current = [asset(serde_json::json!({"tag": "A-1", "name": "from-snipeit", "serial": "SN-1",
        "external_ids": ["snipeit:1", "netbox:device/9"], "lifecycle": "deployed"}))];
    let r = UpstreamRecord {
        name: "from-netbox".into(),
        serial: "FOC9".into(),
        model: "C9300".into(),
        status: "offline".into(),
        ..rec("device/9")
    };
    let p = prepare(System::NetBox, &current, &[r], &Mapping::default(), &ReadExtras::default());
    let v = &p.patches[0].values;
    assert!(!v.contains_key("name") && !v.contains_key("serial") && !v.contains_key("lifecycle"), "{v:?}");
    assert_eq!(v["model"], "C9300", "an empty field is filled");
    let said = &p.not_applied[0].reason;
    assert!(
        said.contains("name: `from-snipeit` kept, `from-netbox` in NetBox")
            && said.contains("lifecycle: deployed kept"),
        "{said}"
    );
}

#[test]
fn an_external_id_on_two_assets_and_a_tag_the_register_cannot_take_are_handled() {
    let current = [
        asset(serde_json::json!({"tag": "D-1", "external_ids": ["snipeit:77"]})),
        asset(serde_json::json!({"tag": "D-2", "external_ids": ["snipeit:77"]})),
    ];
    let p = prep(&current, &[rec("77")]);
    assert!(p.patches.iter().all(|x| x.row > 1), "record 77 is not applied to either");
    assert!(p.skipped[0].reason.contains("D-1") && p.skipped[0].reason.contains("D-2"), "{:?}", p.skipped);
    let p = prep(&[], &[UpstreamRecord { asset_tag: Some("CB 17/a".into()), ..rec("17") }]);
    assert_eq!(p.patches[0].tag, "snipeit-17", "an unusable asset tag gives way to SYSTEM-ID");
}

#[test]
fn a_record_left_out_is_not_gone_and_an_unreadable_one_tags_nothing() {
    let current = [
        asset(serde_json::json!({"tag": "A-1", "external_ids": ["snipeit:1"]})),
        asset(serde_json::json!({"tag": "A-2", "external_ids": ["snipeit:2"]})),
    ];
    let extras = ReadExtras { present: ["snipeit:1".to_string()].into(), blind: false };
    let p = prepare(System::SnipeIt, &current, &[], &Mapping::default(), &extras);
    assert_eq!(p.retired_in_source, ["A-2"], "snipeit:1 came, unusable: still there");
    let blind = ReadExtras { present: Default::default(), blind: true };
    let p = prepare(System::SnipeIt, &current, &[], &Mapping::default(), &blind);
    assert!(p.retired_in_source.is_empty());
    assert!(p.skipped[0].reason.contains("no asset is tagged retired"), "{:?}", p.skipped);
}

/// Regression (review of 2026-12-08): a MAC that names no device was left
/// off a new asset without a note; the plan names it, and the rest of the
/// record is used.
#[test]
fn a_mac_left_off_is_named_in_the_plan_and_the_record_still_used() {
    let records = [UpstreamRecord {
        asset_tag: Some("N-1".into()),
        macs: vec!["00:1b:21:3a:00:30".parse().unwrap()],
        macs_left_out: vec!["01:00:5e:00:00:01".parse().unwrap()],
        ..rec("9")
    }];
    let p = prep(&[], &records);
    assert_eq!(p.patches.len(), 1);
    assert_eq!(p.patches[0].values["macs"], serde_json::json!(["00:1b:21:3a:00:30"]));
    assert_eq!(p.left_out.len(), 1, "{:?}", p.left_out);
    assert_eq!(p.left_out[0].external_id, "snipeit:9");
    assert!(p.left_out[0].reason.starts_with("MAC 01:00:5e:00:00:01 left off: a group"), "{:?}", p.left_out);
    assert!(prep(&[], &[rec("10")]).left_out.is_empty());
}
