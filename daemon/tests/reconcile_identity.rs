//! Identity scenarios: DHCP churn, randomised MACs, multi-homed hosts,
//! ambiguous matches, learned certificates, and the whois answer.

mod scenario;

use census_proto::NameSource;
use censusd::alerts::{AlertKind, AlertState};
use censusd::reconcile::Identity;
use censusd::whois::WhoisStatus;
use scenario::{DAY, HOUR, LAB, LAB2, Scenario, T0, h};
use serde_json::json;

#[test]
fn a_laptop_whose_ip_changes_daily_raises_nothing() {
    let s = Scenario::new();
    s.register(json!([{ "tag": "LT-1", "name": "Ann's laptop", "type": "endpoint", "owner": "ann",
        "lifecycle": "deployed", "macs": ["00:1b:21:11:11:11"], "ips": ["198.18.0.20"] }]));
    for day in 0..7 {
        let ip = format!("198.18.0.{}", 20 + day * 7);
        s.sweep(&LAB, T0 + day * DAY, &[h(&ip, "00:1b:21:11:11:11").ports(&[])]);
        s.full(T0 + day * DAY + HOUR);
    }
    assert!(s.all().is_empty(), "DHCP churn is not news: {:?}", s.all());
    let w = s.whois("198.18.0.62", T0 + 6 * DAY + HOUR).unwrap();
    assert_eq!(w.asset.unwrap().tag, "LT-1");
}

#[test]
fn another_machine_on_a_recorded_ip_is_not_that_asset() {
    let s = Scenario::new();
    s.register(json!([{ "tag": "LT-2", "name": "laptop", "type": "endpoint", "lifecycle": "deployed",
        "macs": ["00:1b:21:22:22:22"], "ips": ["198.18.0.30"] }]));
    // DHCP gave LT-2's old address to a stranger: the IP alone must not make it LT-2.
    s.sweep(&LAB, T0, &[h("198.18.0.30", "00:1b:21:99:99:99")]);
    s.sweep(&LAB, T0 + HOUR, &[h("198.18.0.30", "00:1b:21:99:99:99")]);
    assert_eq!(s.live(AlertKind::UnknownAsset).len(), 1);
}

#[test]
fn a_phone_with_a_randomised_mac_rotating_daily_raises_at_most_one_unknown_asset() {
    for named in [true, false] {
        let s = Scenario::new();
        for day in 0..7u8 {
            let mac = format!("da:a1:19:{day:02x}:00:01");
            let ip = format!("198.18.0.{}", 100 + day);
            let mut phone = h(&ip, &mac).random_mac().ports(&[]);
            if named {
                phone = phone.named("pixel-of-bob.local", NameSource::Mdns);
            }
            for sweep in 0..3 {
                s.sweep(&LAB, T0 + i64::from(day) * DAY + sweep * HOUR, std::slice::from_ref(&phone));
            }
            s.full(T0 + i64::from(day) * DAY + 4 * HOUR);
        }
        let u = s.of_kind(AlertKind::UnknownAsset);
        assert_eq!(u.len(), 1, "named={named}: {u:?}");
        assert_eq!(u[0].state, AlertState::Open);
        if named {
            assert_eq!(u[0].subject, "device:name:pixel-of-bob.local");
        } else {
            assert_eq!(u[0].subject, "device:random-mac@lab");
        }
    }
}

#[test]
fn a_host_answering_on_two_segments_is_one_asset() {
    let s = Scenario::new();
    s.register(
        json!([{ "tag": "DB-2", "name": "database", "type": "server", "owner": "dba", "lifecycle": "decommissioned",
        "lifecycle_since": "2026-01-01",
        "macs": ["00:1b:21:00:00:a1", "00:1b:21:00:00:a2"], "hostnames": ["db2.corp.example"] }]),
    );
    for i in 0..3 {
        s.sweep(&LAB, T0 + i * HOUR, &[h("198.18.0.61", "00:1b:21:00:00:a1")]);
        // Seen from the second agent: its second NIC, and by name through a router (no MAC).
        s.sweep(&LAB2, T0 + i * HOUR, &[h("198.18.1.61", "").named("db2.corp.example", NameSource::Ptr)]);
    }
    s.full(T0 + 4 * HOUR);
    assert!(s.live(AlertKind::UnknownAsset).is_empty(), "{:?}", s.all());
    let retired = s.of_kind(AlertKind::ShouldBeRetired);
    assert_eq!(retired.len(), 1, "one asset, one alert");
    assert_eq!(retired[0].evidence.as_ref().unwrap().hosts().len(), 2);
    let w = s.whois("db2", T0 + 4 * HOUR).unwrap();
    assert_eq!(w.asset.as_ref().unwrap().tag, "DB-2");
    let ips: Vec<&str> = w.hosts.iter().map(|h| h.ip.as_str()).collect();
    assert!(ips.contains(&"198.18.0.61") && ips.contains(&"198.18.1.61"), "{ips:?}");
    assert!(w.verdict.starts_with("should NOT exist"), "{}", w.verdict);
    assert_eq!(w.alerts.len(), 1);
}

#[test]
fn two_assets_fitting_equally_are_surfaced_for_review_not_guessed() {
    let s = Scenario::new();
    s.register(json!([
        { "tag": "PRN-1", "name": "printer", "type": "iot", "lifecycle": "deployed", "hostnames": ["printer.lab"] },
        { "tag": "PRN-2", "name": "printer too", "type": "iot", "lifecycle": "deployed", "hostnames": ["printer.lab"] },
    ]));
    s.sweep(&LAB, T0, &[h("198.18.0.70", "").named("printer.lab", NameSource::Ptr)]);
    let c = s.live(AlertKind::IdentityConflict);
    assert_eq!(c.len(), 1);
    let evidence = serde_json::to_value(&c[0].evidence).unwrap();
    let cands = evidence["ambiguous_candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    let w = s.whois("198.18.0.70", T0 + 1000).unwrap();
    assert!(w.asset.is_none());
    assert!(matches!(&w.hosts[0].identity, Some(Identity::Ambiguous { candidates }) if candidates.len() == 2));
    assert!(w.verdict.starts_with("ambiguous"), "{}", w.verdict);
}

/// Regression (break attempt, 2026-12-05): when two register entries
/// recorded the same serial number, address or name, whois named the first
/// by tag as if it were the only one. Now the answer is ambiguous with every
/// entry listed — unless reconciliation matched what answers there, which
/// is then the answer, the other entries named beside it.
#[test]
fn a_key_two_register_entries_share_is_ambiguous_in_whois_not_the_first_entry() {
    let s = Scenario::new();
    s.register(json!([
        { "tag": "NB-1", "name": "laptop", "type": "endpoint", "lifecycle": "deployed", "serial": "SN-77",
          "ips": ["198.18.0.71"], "hostnames": ["web01.a.example"], "macs": ["00:1b:21:00:00:71"],
          "external_ids": ["snipeit:71"] },
        { "tag": "NB-2", "name": "laptop too", "type": "endpoint", "lifecycle": "deployed", "serial": "sn-77",
          "ips": ["198.18.0.71"], "hostnames": ["web01.b.example"], "external_ids": ["SnipeIT:71"] },
    ]));
    for (q, word) in
        [("SN-77", "serial number"), ("198.18.0.71", "address"), ("web01", "name"), ("snipeit:71", "external id")]
    {
        let w = s.whois(q, T0).unwrap_or_else(|| panic!("{q}"));
        assert_eq!(w.status, WhoisStatus::Ambiguous, "{q}: {}", w.verdict);
        assert!(w.asset.is_none() && w.recorded_for.is_none(), "{q}");
        assert_eq!(w.register_entries, ["NB-1", "NB-2"], "{q}");
        assert!(w.verdict.contains(&format!("records this {word} for 2 assets: NB-1, NB-2")), "{q}: {}", w.verdict);
    }
    // One entry records it: that one, nothing listed.
    let w = s.whois("web01.a.example", T0).unwrap();
    assert_eq!(w.asset.as_ref().map(|a| a.tag.as_str()), Some("NB-1"));
    assert!(w.register_entries.is_empty(), "{:?}", w.register_entries);
    // What answers at the address is matched (by its MAC) to NB-1: NB-1, with NB-2 named beside it.
    s.sweep(&LAB, T0, &[h("198.18.0.71", "00:1b:21:00:00:71")]);
    let w = s.whois("198.18.0.71", T0 + 1000).unwrap();
    assert_eq!(w.asset.as_ref().map(|a| a.tag.as_str()), Some("NB-1"), "{}", w.verdict);
    assert_eq!(w.status, WhoisStatus::RegisteredAndExpected);
    assert_eq!(w.register_entries, ["NB-1", "NB-2"]);
    assert_eq!(w.recorded_for.as_ref().map(|r| r.tag.as_str()), Some("NB-2"));
    assert!(w.verdict.contains("the register records this address for NB-2"), "{}", w.verdict);
    let w = s.whois("SN-77", T0 + 1000).unwrap();
    assert_eq!(w.status, WhoisStatus::Ambiguous, "no host is asked about by serial: {}", w.verdict);
    assert!(w.verdict.contains("for 2 assets: NB-1, NB-2;"), "{}", w.verdict);
}

/// Break-attempt regressions (2026-12-05, after the change above): twelve
/// entries sharing a serial were counted as ten; one asset with 120 names
/// under a short name hid another asset's name under it.
#[test]
fn every_register_entry_sharing_a_key_is_counted_and_none_is_hidden_by_another_entrys_many_names() {
    let s = Scenario::new();
    let many: Vec<_> = (0..12)
        .map(|n| {
            json!({ "tag": format!("M-{n:02}"), "name": "m", "type": "endpoint", "lifecycle": "deployed",
            "serial": "MANY-1" })
        })
        .collect();
    s.register(serde_json::Value::Array(many));
    let w = s.whois("many-1", T0).unwrap();
    assert_eq!(w.status, WhoisStatus::Ambiguous);
    assert_eq!((w.register_entries.len(), w.register_entry_count), (10, 12));
    assert!(
        w.verdict.contains("for 12 assets: M-00, M-01,") && w.verdict.contains("M-09 and 2 more;"),
        "{}",
        w.verdict
    );
    let names: Vec<String> = (0..120).map(|n| format!("dup.s{n:03}.test")).collect();
    s.register(json!([
        { "tag": "P-1", "name": "p", "type": "server", "lifecycle": "deployed", "hostnames": names },
        { "tag": "P-2", "name": "p2", "type": "server", "lifecycle": "deployed", "hostnames": ["dup.zzz.test"] },
    ]));
    let w = s.whois("dup", T0).unwrap();
    assert_eq!(w.status, WhoisStatus::Ambiguous, "{}", w.verdict);
    assert_eq!((w.register_entries.as_slice(), w.register_entry_count), (&["P-1".to_string(), "P-2".into()][..], 2));
}

/// Break-attempt regression (2026-12-05): a query that is one entry's tag
/// (or serial number) answered for that entry and never mentioned another
/// entry whose host name (or serial number) it also is.
#[test]
fn an_entry_recording_the_query_under_a_later_key_is_named_beside_the_answer() {
    let s = Scenario::new();
    s.register(json!([
        { "tag": "web02", "name": "w", "type": "server", "lifecycle": "deployed" },
        { "tag": "H-2", "name": "h", "type": "server", "lifecycle": "deployed", "hostnames": ["web02.corp.example"] },
        { "tag": "Z-9", "name": "z", "type": "server", "lifecycle": "deployed", "serial": "web03" },
        { "tag": "H-3", "name": "h3", "type": "server", "lifecycle": "deployed", "hostnames": ["web03"] },
    ]));
    let w = s.whois("WEB02", T0).unwrap();
    assert_eq!((w.query_kind, w.asset.as_ref().map(|a| a.tag.as_str())), ("tag", Some("web02")));
    assert_eq!(serde_json::to_value(&w.also_recorded_as).unwrap(), json!([{ "key": "hostname", "tag": "H-2" }]));
    assert!(w.verdict.contains("also records this as the name of H-2"), "{}", w.verdict);
    let w = s.whois("web03", T0).unwrap();
    assert_eq!((w.query_kind, w.asset.as_ref().map(|a| a.tag.as_str())), ("serial", Some("Z-9")));
    assert!(w.verdict.contains("also records this as the name of H-3"), "{}", w.verdict);
    // Nothing else records it: nothing said.
    assert!(s.whois("H-3", T0).unwrap().also_recorded_as.is_empty());
}

#[test]
fn whois_answers_by_ip_mac_and_hostname_with_owner_licences_match_and_observation() {
    let s = Scenario::new();
    s.register(json!([{ "tag": "APP-1", "name": "billing app", "type": "server", "owner": "finance-it",
        "lifecycle": "deployed", "macs": ["00:1b:21:00:00:b1"], "hostnames": ["billing.corp.example"],
        "support_end": "2028-01-01", "licences": [{ "product": "RHEL", "vendor": "Red Hat", "expires": "2027-06-30" }] }]));
    s.sweep(&LAB, T0, &[h("198.18.0.81", "00:1b:21:00:00:b1").ports(&[22, 443])]);
    for q in ["198.18.0.81", "00:1B:21:00:00:B1", "billing.corp.example", "billing"] {
        let w = s.whois(q, T0 + HOUR).unwrap_or_else(|| panic!("{q}"));
        let a = w.asset.as_ref().unwrap();
        assert_eq!((a.tag.as_str(), a.owner.as_str()), ("APP-1", "finance-it"), "{q}");
        assert_eq!(a.licences[0].product, "RHEL");
        assert!(w.verdict.starts_with("registered: APP-1"), "{q}: {}", w.verdict);
        assert_eq!(w.seen.as_ref().unwrap().last_ip.as_deref(), Some("198.18.0.81"));
        let host = &w.hosts[0];
        assert_eq!(host.last_agent, "a1");
        assert!(matches!(&host.identity, Some(Identity::Matched(m)) if m.rules[0].starts_with("mac ")));
        assert_eq!(host.observation["ports"].as_array().unwrap().len(), 2);
    }
    assert!(s.whois("198.18.0.200", T0).is_none());
    assert!(s.whois("no-such-host", T0).is_none());
}

#[test]
fn a_name_is_one_name_whatever_characters_it_holds() {
    let s = Scenario::new();
    // A comma inside a name does not split it into two names.
    let host = h("198.18.0.90", "00:1b:21:00:00:90").named("a.local,ceo-laptop.corp.example", NameSource::Mdns);
    s.sweep(&LAB, T0, std::slice::from_ref(&host));
    assert!(s.whois("ceo-laptop.corp.example", T0 + HOUR).is_none(), "no host answers to half a name");
    let w = s.whois("a.local,ceo-laptop.corp.example", T0 + HOUR).unwrap();
    assert_eq!(w.hosts[0].ip, "198.18.0.90");
    // Later names keep being indexed.
    let renamed =
        h("198.18.0.90", "00:1b:21:00:00:90").named("b.local", NameSource::Mdns).named("c.local", NameSource::Ptr);
    s.sweep(&LAB, T0 + HOUR, &[renamed]);
    assert_eq!(s.whois("c.local", T0 + 2 * HOUR).unwrap().hosts[0].ip, "198.18.0.90");
    assert!(s.whois("a.local,ceo-laptop.corp.example", T0 + 2 * HOUR).is_none(), "the old name is gone");
}
