use super::*;
use crate::register::model::asset_from_json;

fn asset(v: serde_json::Value) -> Asset {
    asset_from_json(v).unwrap()
}

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_800_000_000_000;

fn db() -> Asset {
    asset(
        serde_json::json!({ "tag": "SRV-DB-01", "name": "Billing database", "type": "server", "owner": "Platform-Team",
        "lifecycle": "deployed", "macs": ["00:1b:21:3a:00:30"], "ips": ["198.18.10.5"], "hostnames": ["db01.corp.example"],
        "expected_segment": "198.18.10.0/24", "criticality": "high" }),
    )
}

fn q(s: &str) -> AssetQuery {
    AssetQuery::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn the_issues_example_parses_and_matches_an_asset_that_fits_every_term() {
    let query = q(
        "lifecycle:deployed owner:platform-team vendor:intel seen:<7d alert:open port:3389 segment:198.18.10.0/24 billing",
    );
    assert_eq!(query.terms.len(), 8);
    assert!(query.needs_sightings() && query.needs_alerts());
    let open = ["open"];
    let facts = Facts {
        last_seen_ms: Some(NOW - DAY),
        last_ip: Some("198.18.10.5"),
        vendor: Some("Intel Corporate"),
        ports: &[22, 3389],
        alert_states: &open,
    };
    assert!(query.matches(&db(), &facts, NOW));
    // Each term can fail on its own.
    for (changed, why) in [
        (Facts { last_seen_ms: Some(NOW - 8 * DAY), ..facts.clone() }, "seen too long ago"),
        (Facts { ports: &[22], ..facts.clone() }, "no 3389"),
        (Facts { vendor: Some("Dell Inc."), ..facts.clone() }, "another vendor"),
        (Facts { alert_states: &[], ..facts.clone() }, "no alert"),
    ] {
        assert!(!query.matches(&db(), &changed, NOW), "{why}");
    }
}

#[test]
fn seen_never_counts_as_not_seen_and_never_as_seen_within() {
    let never = Facts::default();
    assert!(q("seen:>30d").matches(&db(), &never, NOW));
    assert!(!q("seen:<1d").matches(&db(), &never, NOW));
    let recent = Facts { last_seen_ms: Some(NOW - 3_600_000), ..Facts::default() };
    assert!(q("seen:<1d").matches(&db(), &recent, NOW));
    assert!(q("seen:<90m").matches(&db(), &recent, NOW));
    assert!(!q("seen:<30m").matches(&db(), &recent, NOW));
}

#[test]
fn words_negation_macs_addresses_and_segments() {
    let f = Facts::default();
    assert!(q("db01").matches(&db(), &f, NOW), "a host name");
    assert!(q("srv-db").matches(&db(), &f, NOW), "the tag, any case");
    assert!(!q("-lifecycle:deployed").matches(&db(), &f, NOW));
    assert!(q("-type:endpoint mac:00:1B:21").matches(&db(), &f, NOW));
    assert!(q("mac:00-1b-21-3a").matches(&db(), &f, NOW));
    assert!(q("ip:198.18.10.5").matches(&db(), &f, NOW));
    assert!(q("ip:::ffff:198.18.10.5").matches(&db(), &f, NOW), "a mapped address is the IPv4 host");
    assert!(q("segment:198.18.0.0/16").matches(&db(), &f, NOW), "holds the expected segment");
    assert!(!q("segment:198.19.0.0/16").matches(&db(), &f, NOW));
    assert!(q("alert:none criticality:high").matches(&db(), &f, NOW));
    assert_eq!(q("").terms, vec![], "an empty query matches everything");
}

/// Regression (review of 2026-12-07): `mac:` took fewer spellings than
/// whois and import (`001B.21AA.0B01`, `001b213a` were refused or never
/// matched); any spelling `MacAddr` parses, or the start of one, now finds
/// the asset.
#[test]
fn a_mac_or_its_start_is_found_in_every_spelling_the_register_takes() {
    let f = Facts::default();
    for found in [
        "mac:00:1b:21:3a:00:30",
        "mac:00-1B-21-3A-00-30",
        "mac:001b.213a.0030",
        "mac:001B.213A",
        "mac:001b.21",
        "mac:001b.2",
        "mac:00.1b.21.3a.00.30",
        "mac:00.1b.21",
        "mac:001b:213a:0030",
        "mac:001b:21",
        "mac:001B-213A",
        "mac:001B213A0030",
        "mac:001b21",
        "mac:00:1b:2",
        "mac:00:1b:",
        "mac:0",
    ] {
        assert!(q(found).matches(&db(), &f, NOW), "{found}");
    }
    for missed in ["mac:001b.213a.0031", "mac:00:1b:22", "mac:001c", "mac:001B213A0031"] {
        assert!(!q(missed).matches(&db(), &f, NOW), "{missed}");
    }
    for bad in [
        "mac:0:1b:21",
        "mac:00:1b-21",
        "mac:001b.213a.0030.00",
        "mac:00:1b:21:3a:00:30:00",
        "mac:001b213a00301",
        "mac:00:1b:213",
        "mac:00::1b",
        "mac:001b:21:3a",
        "mac:001b:213a:0030:00",
        "mac:001:b21",
        "mac:0g",
    ] {
        let e = AssetQuery::parse(bad).unwrap_err();
        assert!(e.message.contains("is not a MAC or MAC prefix"), "{bad}: {}", e.message);
    }
}

#[test]
fn a_bad_term_is_named_with_what_would_be_right() {
    for (bad, says) in [
        ("lifecycle:gone", "lifecycle stage"),
        ("seen:7d", "seen:<7d"),
        ("seen:<7w", "unit"),
        ("port:0", "port"),
        ("port:70000", "port"),
        ("segment:nope", "CIDR"),
        ("ip:198.18.0.300", "IP address"),
        ("colour:red", "unknown field `colour`"),
        ("alert:maybe", "open, acknowledged"),
        ("owner:", "value"),
        ("mac:zz", "MAC"),
    ] {
        let e = AssetQuery::parse(&format!("server {bad}")).unwrap_err();
        assert_eq!(e.term, bad);
        assert!(e.message.contains(says), "{bad}: {}", e.message);
    }
    assert!(AssetQuery::parse(&"a ".repeat(65)).is_err(), "at most 64 terms");
    assert!(AssetQuery::parse(&"a".repeat(1001)).is_err(), "at most 1,000 characters");
}

/// The search's cheap first pass never drops an asset the whole query
/// would match, and drops those a register-only term rules out — including
/// under negation; a term that needs facts is left to the second pass.
#[test]
fn the_register_only_first_pass_keeps_every_match() {
    let open = ["open"];
    let facts = Facts {
        last_seen_ms: Some(NOW - DAY),
        last_ip: Some("198.18.10.5"),
        vendor: Some("Intel Corporate"),
        ports: &[22, 3389],
        alert_states: &open,
    };
    for s in [
        "lifecycle:deployed owner:platform vendor:intel seen:<7d alert:open port:3389 segment:198.18.10.0/24 billing",
        "-lifecycle:disposed -port:80 ip:198.18.10.5",
        "mac:00:1b:21 -vendor:dell -seen:>30d",
        "db01 type:server criticality:high",
    ] {
        let query = q(s);
        assert!(query.matches(&db(), &facts, NOW), "{s}");
        assert!(query.may_match(&db(), NOW), "the first pass keeps it: {s}");
    }
    for s in ["lifecycle:disposed port:3389", "-owner:platform seen:<7d", "nomatch vendor:intel"] {
        assert!(!q(s).may_match(&db(), NOW), "ruled out by the register alone: {s}");
    }
    assert!(q("port:80 -vendor:intel").may_match(&db(), NOW), "facts are for the second pass");
    assert!(!q("owner:platform type:server").needs_facts());
    assert!(q("seen:<1d").needs_states() && q("-ip:198.18.0.1").needs_states() && !q("port:22").needs_states());
}

/// Regression (break attempt): a value with a space could not be searched.
#[test]
fn double_quotes_keep_white_space_in_a_value() {
    let query = q(r#"owner:"platform-team" "billing database" -name:"old box""#);
    assert_eq!(query.terms.len(), 3);
    assert!(query.matches(&db(), &Facts::default(), NOW));
    assert_eq!(q(r#"name:"Billing database""#).terms, [Term::Contains("name", "billing database".into())]);
    assert!(AssetQuery::parse(r#"owner:"open"#).is_err(), "a quote left open");
    assert!(q(r#""""#).terms.is_empty());
}

#[test]
fn tags_finds_the_free_form_tags_a_sync_leaves() {
    let mut a = db();
    a.tags = vec!["pci".into(), "retired-in-snipeit".into()];
    let none = Facts { last_seen_ms: None, last_ip: None, vendor: None, ports: &[], alert_states: &[] };
    assert!(q("tags:retired-in-snipeit").matches(&a, &none, NOW));
    assert!(q("label:PCI").matches(&a, &none, NOW));
    assert!(!q("tags:retired-in-netbox").matches(&a, &none, NOW));
    assert!(!q("tag:retired-in-snipeit").matches(&a, &none, NOW), "tag: is the asset tag");
}
