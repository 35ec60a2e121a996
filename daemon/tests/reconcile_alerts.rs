//! Scenario tests: each alert kind raising, updating, auto-resolving and
//! being suppressed, driven by a register and sequences of batches.

mod scenario;

use census_proto::NameSource;
use censusd::alerts::{AlertAction, AlertKind, AlertState, SuppressionInput};
use censusd::register::{Day, Lifecycle};
use scenario::{DAY, H, HOUR, LAB, Scenario, Sweep, T0, h};
use serde_json::json;

fn server(tag: &str, mac: &str, lifecycle: &str) -> serde_json::Value {
    // Dated before the scenario's sweeps: sightings from before a lifecycle change are no news.
    json!({ "tag": tag, "name": format!("{tag} server"), "type": "server", "owner": "ops", "lifecycle": lifecycle,
            "lifecycle_since": "2026-01-01", "macs": [mac], "expected_segment": "198.18.0.0/24" })
}

#[test]
fn unknown_asset_waits_for_debounce_then_updates_suppresses_and_resolves_when_registered() {
    let s = Scenario::new();
    let stranger = h("198.18.0.50", "00:1b:21:aa:00:01").named("kiosk-7.lab", NameSource::Ptr);
    s.sweep(&LAB, T0, std::slice::from_ref(&stranger));
    assert!(s.of_kind(AlertKind::UnknownAsset).is_empty(), "one sighting is below the debounce of two");
    s.sweep(&LAB, T0 + HOUR, std::slice::from_ref(&stranger));
    let raised = s.live(AlertKind::UnknownAsset);
    assert_eq!(raised.len(), 1);
    let a = &raised[0];
    assert_eq!(a.subject, "device:mac:00:1b:21:aa:00:01");
    assert_eq!(a.state, AlertState::Open);
    assert!(a.summary.contains("Intel Corporate") && a.summary.contains("kiosk-7.lab"), "{}", a.summary);
    assert_eq!(a.agent.as_deref(), Some("a1"));
    assert_eq!(ev(a)["sightings"], 2);
    // A repeat updates the same alert.
    s.sweep(&LAB, T0 + 2 * HOUR, std::slice::from_ref(&stranger));
    let again = s.live(AlertKind::UnknownAsset);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, a.id);
    assert!(again[0].updates >= 1 && again[0].last_seen_ms > a.last_seen_ms);
    // Suppressed by vendor: held, not open.
    s.suppress(
        SuppressionInput {
            vendor: Some("intel".into()),
            reason: "lab kiosks".into(),
            expires_in: "1d".into(),
            ..Default::default()
        },
        T0 + 2 * HOUR,
    );
    s.full(T0 + 3 * HOUR);
    let held = s.live(AlertKind::UnknownAsset);
    assert_eq!(held[0].state, AlertState::Suppressed);
    assert!(held[0].suppressed_by.is_some());
    // The rule expires: the next sighting reopens the alert.
    s.sweep(&LAB, T0 + 2 * HOUR + DAY + HOUR, std::slice::from_ref(&stranger));
    assert_eq!(s.live(AlertKind::UnknownAsset)[0].state, AlertState::Open);
    // Registered: auto-resolved, saying why.
    s.register(json!([server("KIOSK-7", "00:1b:21:aa:00:01", "deployed")]));
    s.sweep(&LAB, T0 + 2 * DAY, std::slice::from_ref(&stranger));
    let done = s.of_kind(AlertKind::UnknownAsset);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, AlertState::Resolved);
    assert!(done[0].resolution.as_deref().unwrap().contains("now matches asset KIOSK-7"), "{:?}", done[0].resolution);
    assert_eq!(done[0].resolved_by.as_deref(), Some("census"));
}

#[test]
fn decommissioned_server_that_keeps_answering_raises_exactly_one_should_be_retired() {
    let s = Scenario::new();
    s.register(json!([server("SRV-OLD", "00:1b:21:00:00:99", "decommissioned")]));
    let old = h("198.18.0.99", "00:1b:21:00:00:99");
    for i in 0..5 {
        s.sweep(&LAB, T0 + i * HOUR, std::slice::from_ref(&old));
    }
    s.full(T0 + 5 * HOUR);
    let all = s.of_kind(AlertKind::ShouldBeRetired);
    assert_eq!(all.len(), 1, "one alert, updated by repeats");
    assert_eq!(all[0].state, AlertState::Open);
    assert!(all[0].updates >= 4);
    assert!(all[0].summary.contains("decommissioned") && all[0].summary.contains("198.18.0.99"));
    assert_eq!(ev(&all[0])["seen"][0]["matched_by"][0], "mac 00:1b:21:00:00:99");
    assert!(s.live(AlertKind::UnknownAsset).is_empty());
    // Acknowledged, then it stops answering: it stays for a person (was it
    // wiped, or just switched off?) and says since when it is silent.
    let acked = s.act(all[0].id, AlertAction::Acknowledge);
    assert_eq!((acked.state, acked.acked_by.as_deref()), (AlertState::Acknowledged, Some("alice")));
    s.sweep(&LAB, T0 + 10 * HOUR, &[]);
    assert!(s.live(AlertKind::ShouldBeRetired)[0].absent_since_ms.is_none(), "one sweep without it is not absence");
    s.sweep(&LAB, T0 + 11 * HOUR, &[]);
    s.full(T0 + 2 * DAY);
    let held = &s.of_kind(AlertKind::ShouldBeRetired)[0];
    assert_eq!(held.state, AlertState::Acknowledged);
    assert!(held.absent_since_ms.is_some(), "{held:?}");
    // Disposed in the register: still retired, so the alert waits for the person who checks the wipe.
    s.update("SRV-OLD", |a| a.lifecycle = Lifecycle::Disposed);
    s.full(T0 + 3 * DAY);
    assert_eq!(s.of_kind(AlertKind::ShouldBeRetired)[0].state, AlertState::Acknowledged);
    let done = s.act(held.id, AlertAction::Resolve);
    assert_eq!((done.state, done.resolved_by.as_deref()), (AlertState::Resolved, Some("alice")));
}

#[test]
fn missing_counts_only_complete_sweeps_of_the_assets_segment_and_resolves_when_seen() {
    let s = Scenario::new();
    s.register(json!([server("SRV-1", "00:1b:21:00:00:01", "deployed")]));
    let srv = h("198.18.0.11", "00:1b:21:00:00:01");
    s.sweep(&LAB, T0, std::slice::from_ref(&srv));
    // Eight days of partial sweeps and sweeps of another segment: not evidence.
    let partial = Sweep { complete: false, ..LAB };
    for d in 1..=8 {
        s.sweep(&partial, T0 + d * DAY, &[]);
        s.sweep(&scenario::LAB2, T0 + d * DAY, &[]);
    }
    s.full(T0 + 9 * DAY);
    assert!(s.of_kind(AlertKind::Missing).is_empty(), "no complete sweep of its segment looked for it");
    // Complete sweeps for eight days.
    for d in 9..=17 {
        s.sweep(&LAB, T0 + d * DAY, &[]);
    }
    s.full(T0 + 17 * DAY + HOUR);
    let m = s.live(AlertKind::Missing);
    assert_eq!(m.len(), 1);
    assert!(m[0].summary.contains("not seen since"), "{}", m[0].summary);
    assert!(ev(&m[0])["complete_sweeps"].as_u64().unwrap() >= 8);
    s.sweep(&LAB, T0 + 18 * DAY, &[srv]);
    let done = &s.of_kind(AlertKind::Missing)[0];
    assert_eq!(done.state, AlertState::Resolved);
    assert!(done.resolution.as_deref().unwrap().contains("seen again at 198.18.0.11"), "{:?}", done.resolution);
}

#[test]
fn missing_after_is_per_asset_type_and_suppressible_by_tag() {
    let mut cfg = censusd::config::ReconcileConfig::default();
    cfg.missing_after_by_type.insert(censusd::register::AssetType::Server, std::time::Duration::from_secs(86_400));
    let s = Scenario::with(cfg);
    s.register(json!([
        server("SRV-2", "00:1b:21:00:00:02", "deployed"),
        server("SRV-3", "00:1b:21:00:00:03", "deployed")
    ]));
    // Both seen once (a never-seen asset counts from when it was registered).
    s.sweep(&LAB, T0 - DAY, &[h("198.18.0.2", "00:1b:21:00:00:02"), h("198.18.0.3", "00:1b:21:00:00:03")]);
    s.suppress(
        SuppressionInput {
            tag: Some("SRV-3".into()),
            kind: Some(AlertKind::Missing),
            reason: "in repair".into(),
            expires_in: "30d".into(),
            ..Default::default()
        },
        T0,
    );
    for i in 0..4 {
        s.sweep(&LAB, T0 + i * 12 * HOUR, &[]);
    }
    s.full(T0 + 2 * DAY);
    let live = s.live(AlertKind::Missing);
    assert_eq!(live.len(), 2);
    let by = |t: &str| live.iter().find(|a| a.tag.as_deref() == Some(t)).unwrap().state;
    assert_eq!(by("SRV-2"), AlertState::Open);
    assert_eq!(by("SRV-3"), AlertState::Suppressed);
}

#[test]
fn identity_conflict_for_two_macs_on_one_ip_raises_and_clears() {
    let s = Scenario::new();
    s.register(json!([server("GW-1", "00:1b:21:00:00:01", "deployed")]));
    let spoofed = h("198.18.0.1", "00:1b:21:00:00:01").also_mac("00:1b:21:66:66:66");
    s.sweep(&LAB, T0, &[spoofed]);
    let c = s.live(AlertKind::IdentityConflict);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].subject, "ip:198.18.0.1");
    assert!(c[0].summary.contains("00:1b:21:66:66:66"));
    // One MAC again: the conflict stays open for a person (a spoofer that
    // stopped is still news) and says since when it is no longer observed.
    s.sweep(&LAB, T0 + HOUR, &[h("198.18.0.1", "00:1b:21:00:00:01")]);
    let still = &s.of_kind(AlertKind::IdentityConflict)[0];
    assert_eq!(still.state, AlertState::Open);
    assert!(still.absent_since_ms.is_some_and(|t| t >= T0 + HOUR), "{still:?}");
    assert_eq!(s.act(still.id, AlertAction::Resolve).state, AlertState::Resolved);
}

#[test]
fn registered_mac_on_an_unexpected_segment_is_an_identity_conflict() {
    let s = Scenario::new();
    s.register(json!([server("DB-1", "00:1b:21:00:00:44", "deployed")]));
    s.sweep(&scenario::LAB2, T0, &[h("198.18.1.44", "00:1b:21:00:00:44")]);
    let c = s.live(AlertKind::IdentityConflict);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].subject, "asset:DB-1");
    assert!(c[0].summary.contains("outside its segment 198.18.0.0/24"), "{}", c[0].summary);
    s.sweep(&scenario::LAB2, T0 + HOUR, &[]);
    s.sweep(&LAB, T0 + 2 * DAY, &[h("198.18.0.44", "00:1b:21:00:00:44")]);
    // Back where it belongs: still open for a person, not silently forgotten.
    assert_eq!(s.of_kind(AlertKind::IdentityConflict)[0].state, AlertState::Open);
    // Fixing the register (its real segment) resolves it.
    s.update("DB-1", |a| a.expected_segment = None);
    s.full(T0 + 2 * DAY + HOUR);
    s.sweep(&LAB, T0 + 3 * DAY, &[h("198.18.0.44", "00:1b:21:00:00:44")]);
    assert_eq!(s.of_kind(AlertKind::IdentityConflict).len(), 1, "never raised twice");
}

#[test]
fn new_service_against_the_baseline_accepted_when_resolved_by_a_person() {
    let s = Scenario::new();
    s.register(json!([server("WEB-1", "00:1b:21:00:00:05", "deployed")]));
    let web = |ports: &[u16]| h("198.18.0.5", "00:1b:21:00:00:05").ports(ports);
    s.sweep(&LAB, T0, &[web(&[22, 443])]);
    assert!(s.of_kind(AlertKind::NewService).is_empty(), "the first sighting sets the baseline");
    s.sweep(&LAB, T0 + HOUR, &[web(&[22, 443, 8080])]);
    let n = s.live(AlertKind::NewService);
    assert_eq!(n.len(), 1);
    assert_eq!(ev(&n[0])["new_ports"], json!([8080]));
    // The port closes again: auto-resolved once two complete sweeps agree.
    s.sweep(&LAB, T0 + 2 * HOUR, &[web(&[22, 443])]);
    assert_eq!(s.of_kind(AlertKind::NewService)[0].state, AlertState::Open, "one sweep could be a flap");
    s.sweep(&LAB, T0 + 2 * HOUR + 1, &[web(&[22, 443])]);
    assert_eq!(s.of_kind(AlertKind::NewService)[0].state, AlertState::Resolved);
    // It comes back: the same alert is reopened; a person accepts it.
    s.sweep(&LAB, T0 + 3 * HOUR, &[web(&[22, 443, 8080])]);
    let again = s.live(AlertKind::NewService);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].reopened), (n[0].id, 1));
    s.act(again[0].id, AlertAction::Resolve);
    s.sweep(&LAB, T0 + 4 * HOUR, &[web(&[22, 443, 8080])]);
    assert!(s.live(AlertKind::NewService).is_empty(), "an accepted port is part of the baseline");
    s.sweep(&LAB, T0 + 5 * HOUR, &[web(&[22, 443, 8080, 9090])]);
    assert_eq!(ev(&s.live(AlertKind::NewService)[0])["new_ports"], json!([9090]));
}

#[test]
fn coverage_gap_when_an_expected_service_was_probed_and_is_absent() {
    let s = Scenario::new();
    let mut a = server("WS-9", "00:1b:21:00:00:09", "deployed");
    a["expected_services"] = json!([{ "port": 4118, "name": "edr-agent" }]);
    let mut b = server("WS-10", "00:1b:21:00:00:10", "deployed");
    b["expected_services"] = json!([{ "port": 9999, "name": "not-probed" }]);
    s.register(json!([a, b]));
    s.sweep(&LAB, T0, &[h("198.18.0.9", "00:1b:21:00:00:09").ports(&[22]), h("198.18.0.10", "00:1b:21:00:00:10")]);
    let g = s.live(AlertKind::CoverageGap);
    assert_eq!(g.len(), 1, "a port nobody probed is not a gap: {g:?}");
    assert_eq!(g[0].tag.as_deref(), Some("WS-9"));
    assert!(g[0].summary.contains("4118 (edr-agent)"), "{}", g[0].summary);
    s.sweep(&LAB, T0 + HOUR, &[h("198.18.0.9", "00:1b:21:00:00:09").ports(&[22, 4118])]);
    s.sweep(&LAB, T0 + 2 * HOUR, &[h("198.18.0.9", "00:1b:21:00:00:09").ports(&[22, 4118])]);
    assert_eq!(s.of_kind(AlertKind::CoverageGap)[0].state, AlertState::Resolved);
}

#[test]
fn out_of_support_on_a_schedule_and_resolved_when_renewed() {
    let s = Scenario::new();
    let mut a = server("FW-1", "00:1b:21:00:00:0f", "deployed");
    a["support_end"] = json!("2026-10-01");
    a["licences"] = json!([{ "product": "Threat feed", "vendor": "Acme", "expires": "2026-12-31" }]);
    s.register(json!([a]));
    s.full(T0);
    let o = s.live(AlertKind::OutOfSupport);
    assert_eq!(o.len(), 1);
    assert!(o[0].summary.contains("support ended 2026-10-01") && !o[0].summary.contains("Threat feed"));
    s.update("FW-1", |a| a.support_end = Some("2029-01-01".parse::<Day>().unwrap()));
    s.full(T0 + DAY);
    assert_eq!(s.of_kind(AlertKind::OutOfSupport)[0].state, AlertState::Resolved);
    // The licence lapses later.
    s.full(T0 + 70 * DAY);
    let l = s.live(AlertKind::OutOfSupport);
    assert!(l[0].summary.contains("licence Threat feed expired 2026-12-31"), "{}", l[0].summary);
}

#[test]
fn pending_in_use_until_the_asset_is_deployed() {
    let s = Scenario::new();
    s.register(json!([server("NEW-1", "00:1b:21:00:00:0e", "procurement")]));
    let host = h("198.18.0.14", "00:1b:21:00:00:0e");
    s.sweep(&LAB, T0, std::slice::from_ref(&host));
    assert_eq!(s.live(AlertKind::PendingInUse).len(), 1);
    s.update("NEW-1", |a| a.lifecycle = Lifecycle::Deployed);
    s.sweep(&LAB, T0 + HOUR, &[host]);
    assert_eq!(s.of_kind(AlertKind::PendingInUse)[0].state, AlertState::Resolved);
    assert!(s.all().iter().all(|a| a.state == AlertState::Resolved), "{:?}", s.all());
}

#[test]
fn resolving_an_alert_twice_is_refused_and_ack_records_who() {
    let s = Scenario::new();
    s.register(json!([server("NEW-2", "00:1b:21:00:00:0d", "procurement")]));
    s.sweep(&LAB, T0, &[h("198.18.0.13", "00:1b:21:00:00:0d")]);
    let a = &s.live(AlertKind::PendingInUse)[0];
    let r = s.act(a.id, AlertAction::Resolve);
    assert_eq!(r.resolved_by.as_deref(), Some("alice"));
    assert!(r.resolution.as_deref().unwrap().contains("checked"));
    let again = censusd::app::alerts::act(
        &s.rec,
        a.id,
        AlertAction::Resolve,
        &censusd::people::Principal::person("bob", censusd::people::Role::Analyst),
        None,
        T0,
    );
    assert!(again.is_err());
    let _unused: Option<H> = None;
}

#[test]
fn every_kind_can_be_held_by_a_suppression_of_that_kind() {
    let s = Scenario::new();
    let mut no_edr = server("WS-1", "00:1b:21:00:01:01", "deployed");
    no_edr["expected_services"] = json!([{ "port": 4118, "name": "edr-agent" }]);
    no_edr["support_end"] = json!("2026-01-01");
    s.register(json!([
        no_edr,
        server("OLD-1", "00:1b:21:00:01:02", "decommissioned"),
        server("NEW-1", "00:1b:21:00:01:03", "procurement"),
        server("GONE-1", "00:1b:21:00:01:04", "deployed"),
        server("MOVED-1", "00:1b:21:00:01:05", "deployed"),
    ]));
    // OLD-1 held a client certificate another host now serves (retired-credential-in-use).
    s.update("OLD-1", |a| {
        a.certificates = vec![censusd::register::model::RecordedCert {
            label: "vpn".into(),
            sha256: Some("c".repeat(64)),
            serial: None,
        }]
    });
    // Licences are tracked (one entitlement, of another product): WS-1's
    // SQL Server has no seat (unlicensed-software).
    s.licences("id,product,metric,seats\nc-1,Oracle Database,per-device,1\n");
    // The servers' owner, the ops team, was disbanded (owner-departed).
    s.people("id,kind,status,left_on\nops,team,left,2026-06-30\n");
    // The EDR's list lacks WS-1 (not-in-source), still lists OLD-1
    // (retired-still-enrolled) and a device nobody registered
    // (source-unknown); the MDM was never loaded (source-stale).
    let admin = censusd::people::Principal::builtin_admin();
    for (name, export) in
        [("edr", Some("mac\n00:1b:21:00:01:02\n00:1b:21:00:01:03\n00:1b:21:00:0e:99\n")), ("mdm", None)]
    {
        let def = censusd::sources::SourceDef {
            name: name.into(),
            format: censusd::sources::SourceFormat::Csv,
            key: censusd::sources::Field::Mac,
            map: censusd::sources::parse_map("mac=mac").unwrap(),
            expected_types: vec![censusd::register::AssetType::Server],
            max_age_days: 30,
        };
        censusd::app::sources::define(&s.rec, &admin, def, T0 - DAY).unwrap();
        if let Some(csv) = export {
            censusd::app::sources::load(&s.rec, &admin, name, csv.as_bytes(), false, T0 - DAY).unwrap();
        }
    }
    for k in AlertKind::ALL {
        s.suppress(
            SuppressionInput {
                kind: Some(*k),
                reason: "audit window".into(),
                expires_in: "60d".into(),
                ..Default::default()
            },
            T0 - DAY,
        );
    }
    let hosts = |extra: &[u16]| {
        // 1433: SQL Server without any entitlement (unlicensed-software).
        let mut ws = vec![22, 1433];
        ws.extend_from_slice(extra);
        vec![
            h("198.18.0.101", "00:1b:21:00:01:01").ports(&ws).banner(22, "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7"),
            h("198.18.0.102", "00:1b:21:00:01:02"),
            h("198.18.0.103", "00:1b:21:00:01:03"),
            h("198.18.0.104", "00:1b:21:00:01:04"),
            h("198.18.0.150", "00:1b:21:00:ff:01").also_mac("00:1b:21:00:ff:02"),
            h("198.18.0.160", "00:1b:21:00:ff:10").cert(443, &"a".repeat(64), T0 + 10 * DAY),
            h("198.18.0.161", "00:1b:21:00:ff:11").cert(443, &"b".repeat(64), T0 - 20 * DAY),
            h("198.18.0.162", "00:1b:21:00:ff:12").cert(443, &"c".repeat(64), T0 + 200 * DAY),
        ]
    };
    s.sweep(&LAB, T0 - 10 * DAY, &hosts(&[]));
    s.sweep(&scenario::LAB2, T0 - 10 * DAY + HOUR, &[h("198.18.1.5", "00:1b:21:00:01:05")]);
    for d in 0..9 {
        let mut hs = hosts(&[8080]);
        hs.retain(|x| x.ip != "198.18.0.104");
        s.sweep(&LAB, T0 - 9 * DAY + d * DAY, &hs);
        s.sweep(&LAB, T0 - 9 * DAY + d * DAY + HOUR, &hs);
    }
    s.full(T0);
    let live: Vec<_> = s.all().into_iter().filter(|a| a.state != AlertState::Resolved).collect();
    let mut kinds: Vec<AlertKind> = live.iter().map(|a| a.kind).collect();
    kinds.sort();
    kinds.dedup();
    // alert-flood needs a flood; its scenario is in the lifecycle's and the hardening tests.
    let asset_and_device: Vec<AlertKind> =
        AlertKind::ALL.iter().copied().filter(|k| *k != AlertKind::AlertFlood).collect();
    assert_eq!(kinds, asset_and_device, "every kind raised: {live:#?}");
    assert!(live.iter().all(|a| a.state == AlertState::Suppressed && a.suppressed_by.is_some()), "{live:#?}");
}

/// An alert's evidence as JSON, as the API gives it.
fn ev(a: &censusd::alerts::Alert) -> serde_json::Value {
    serde_json::to_value(&a.evidence).expect("evidence serialises")
}

/// Regression (#15, memory at scale): the match index is built from the
/// store a page at a time and a full run reads the register a page at a
/// time; every asset is judged, the ones on either side of each page
/// boundary included (20,000 a page for the index, 5,000 for the run).
#[test]
fn a_register_larger_than_a_page_is_judged_whole() {
    let s = Scenario::new();
    let (index_page, run_page) = (censusd::reconcile::INDEX_PAGE, censusd::reconcile::FULL_RUN_PAGE);
    let n = index_page + 10;
    let lapsed = [0, run_page - 1, run_page, run_page + 1, index_page - 1, index_page, n - 1];
    let assets: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut a = server(
                &format!("BIG-{i:06}"),
                &format!("00:1b:21:{:02x}:{:02x}:{:02x}", i >> 16, (i >> 8) & 0xff, i & 0xff),
                "deployed",
            );
            a["support_end"] = json!(if lapsed.contains(&i) { "2026-10-01" } else { "2030-01-01" });
            a
        })
        .collect();
    s.register(serde_json::Value::Array(assets));
    s.full(T0);
    let mut tags: Vec<String> = s.live(AlertKind::OutOfSupport).into_iter().filter_map(|a| a.tag).collect();
    tags.sort();
    let want: Vec<String> = lapsed.iter().map(|i| format!("BIG-{i:06}")).collect();
    assert_eq!(tags, want);
    // The one the index's last page holds is matched by its MAC.
    let last = n - 1;
    let mac = format!("00:1b:21:{:02x}:{:02x}:{:02x}", last >> 16, (last >> 8) & 0xff, last & 0xff);
    s.sweep(&LAB, T0 + HOUR, &[h("198.18.0.9", &mac)]);
    let who = s.whois("198.18.0.9", T0 + HOUR).unwrap();
    assert_eq!(who.asset.map(|a| a.tag), Some(format!("BIG-{last:06}")));
}

/// Regression (#15): a run drops clears about subjects that never had an
/// alert, by a set of alerted subjects the reconciler keeps. After a
/// restart that set is read back from the store, so an alert raised before
/// it still resolves when its condition clears.
#[test]
fn an_alert_raised_before_a_restart_still_clears_after_it() {
    let mut s = Scenario::new();
    let mut a = server("FW-2", "00:1b:21:00:00:1f", "deployed");
    a["support_end"] = json!("2026-10-01");
    s.register(json!([a]));
    s.full(T0);
    assert_eq!(s.live(AlertKind::OutOfSupport).len(), 1);
    s.restart();
    s.update("FW-2", |a| a.support_end = Some("2029-01-01".parse::<Day>().unwrap()));
    s.full(T0 + DAY);
    let all = s.of_kind(AlertKind::OutOfSupport);
    assert_eq!((all.len(), all[0].state), (1, AlertState::Resolved));
}

/// Regression (break attempt): an out-of-support alert a person resolved
/// did not reopen when support lapsed again until the asset was next
/// seen; the condition is the register's and the calendar's, observed at
/// every run, and the README promises a reopen "when support or the
/// licence lapses again".
#[test]
fn a_person_resolved_out_of_support_alert_reopens_when_support_lapses_again_unseen() {
    let s = Scenario::new();
    let mut a = server("FW-3", "00:1b:21:00:00:2f", "deployed");
    a["support_end"] = json!("2026-10-01");
    s.register(json!([a]));
    s.full(T0);
    let raised = s.live(AlertKind::OutOfSupport);
    assert_eq!(raised.len(), 1);
    assert_eq!(s.act(raised[0].id, AlertAction::Resolve).state, AlertState::Resolved);
    // Still lapsed: the person's decision holds.
    s.full(T0 + HOUR);
    assert!(s.live(AlertKind::OutOfSupport).is_empty());
    // Renewed, then lapsed again (the renewal was entered wrongly): reopened, same alert.
    s.update("FW-3", |a| a.support_end = Some("2029-01-01".parse::<Day>().unwrap()));
    s.full(T0 + 2 * HOUR);
    s.update("FW-3", |a| a.support_end = Some("2026-10-15".parse::<Day>().unwrap()));
    s.full(T0 + 3 * HOUR);
    let back = s.live(AlertKind::OutOfSupport);
    assert_eq!(back.len(), 1, "{:?}", s.of_kind(AlertKind::OutOfSupport));
    assert_eq!((back[0].id, back[0].reopened), (raised[0].id, 1));
}

/// Regression (break attempt): an address answering with the MACs of two
/// assets stayed in conflict after the register recorded both MACs on one
/// asset; the README says identity-conflict "resolves itself when the
/// register changes so it cannot hold".
#[test]
fn an_address_conflict_resolves_when_the_register_ties_its_macs_to_one_asset() {
    let s = Scenario::new();
    s.register(json!([server("F3", "00:1b:21:00:00:f3", "deployed"), server("F4", "00:1b:21:00:00:f4", "deployed")]));
    let both = h("198.18.0.30", "00:1b:21:00:00:f3").also_mac("00:1b:21:00:00:f4");
    s.sweep(&LAB, T0, std::slice::from_ref(&both));
    assert_eq!(s.live(AlertKind::IdentityConflict).len(), 1);
    // F4's MAC was really F3's second interface: recorded so.
    s.update("F4", |a| a.macs.clear());
    s.update("F3", |a| a.macs.push("00:1b:21:00:00:f4".parse().unwrap()));
    s.full(T0 + HOUR);
    let c = s.of_kind(AlertKind::IdentityConflict);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].state, AlertState::Resolved, "{:?}", c[0]);
    assert!(c[0].resolution.as_deref().unwrap_or_default().contains("on asset F3"), "{:?}", c[0].resolution);
}
