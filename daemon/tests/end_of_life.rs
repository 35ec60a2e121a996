//! `end-of-life-software`: scenarios through the real ingest and reconcile.
//! A banner naming a release past its end of support raises one alert per
//! subject with the release, the date and its source; an upgrade seen by a
//! sweep that looked up services marks it absent for a person to close (a
//! sweep cannot tell an upgrade from a banner not grabbed); a sweep that did
//! not look services up, or a host that went quiet, says nothing; many
//! other banners cannot hide it; registering the device hands it to the
//! asset; an operator's date (extended support) is honoured.

mod scenario;

use std::sync::Arc;

use censusd::alerts::{AlertKind, AlertState, Severity};
use censusd::config::ReconcileConfig;
use scenario::{DAY, HOUR, LAB, Scenario, T0, batch, h};

const STRETCH: &str = "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7";
const BOOKWORM: &str = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";

fn evidence(a: &censusd::alerts::Alert) -> serde_json::Value {
    serde_json::to_value(&a.evidence).unwrap()
}

#[test]
fn an_unregistered_host_with_an_end_of_life_banner_raises_one_alert_with_the_dates_source() {
    let s = Scenario::new();
    s.sweep(
        &LAB,
        T0,
        &[h("198.18.0.20", "00:1b:21:00:02:01").banner(22, STRETCH).banner(80, "Apache/2.4.25 (Debian)")],
    );
    s.sweep(&LAB, T0 + HOUR, &[h("198.18.0.20", "00:1b:21:00:02:01").banner(22, STRETCH)]);
    let live = s.live(AlertKind::EndOfLifeSoftware);
    assert_eq!(live.len(), 1, "{live:#?}");
    let a = &live[0];
    assert_eq!(a.subject, "device:mac:00:1b:21:00:02:01");
    assert_eq!(a.severity, Severity::High, "support ended over a year ago");
    let e = evidence(a);
    assert_eq!(e["software"].as_array().unwrap().len(), 1, "one release, named once: {e}");
    let sw = &e["software"][0];
    assert_eq!((sw["release"].as_str(), sw["ended"].as_str()), (Some("Debian 9 (stretch)"), Some("2022-06-30")));
    assert!(sw["source"].as_str().unwrap().contains("wiki.debian.org/LTS"), "{e}");
    assert_eq!(sw["banner"], STRETCH);
    assert!(a.summary.contains("Debian 9 (stretch)") && a.summary.contains("2022-06-30"), "{}", a.summary);

    // A sweep without service lookups says nothing either way.
    let mut quiet = batch(&LAB, T0 + 2 * HOUR, &[h("198.18.0.20", "00:1b:21:00:02:01")], None);
    quiet.completeness.enriched = false;
    s.deliver(&quiet, T0 + 2 * HOUR + 6000);
    assert_eq!(s.live(AlertKind::EndOfLifeSoftware).len(), 1, "no service lookup, no verdict");
    assert_eq!(s.live(AlertKind::EndOfLifeSoftware)[0].absent_since_ms, None);
    // Upgraded: marked absent since that sweep, still open for a person.
    s.sweep(&LAB, T0 + 3 * HOUR, &[h("198.18.0.20", "00:1b:21:00:02:01").banner(22, BOOKWORM)]);
    let live = s.live(AlertKind::EndOfLifeSoftware);
    assert_eq!(live.len(), 1);
    assert!(live[0].absent_since_ms.is_some(), "{live:#?}");
    // Seen again running it: no longer absent.
    s.sweep(&LAB, T0 + 4 * HOUR, &[h("198.18.0.20", "00:1b:21:00:02:01").banner(22, STRETCH)]);
    assert_eq!(s.live(AlertKind::EndOfLifeSoftware)[0].absent_since_ms, None);
    assert_eq!(s.of_kind(AlertKind::EndOfLifeSoftware).len(), 1, "one alert throughout");
    assert!(s.all().iter().all(|a| a.kind != AlertKind::EndOfLifeSoftware || a.state != AlertState::Resolved));
}

#[test]
fn an_old_release_cannot_hide_behind_many_other_banners_and_registering_the_device_hands_it_over() {
    let s = Scenario::new();
    let mut host = h("198.18.0.70", "00:1b:21:00:07:01");
    for port in 1000..1040 {
        host = host.banner(port, BOOKWORM);
    }
    s.sweep(&LAB, T0, &[host.clone().banner(80, "Microsoft-IIS/6.0")]);
    let live = s.live(AlertKind::EndOfLifeSoftware);
    assert_eq!(live.len(), 1, "IIS 6.0 behind 40 current banners: {live:#?}");
    assert_eq!(live[0].subject, "device:mac:00:1b:21:00:07:01");
    // Registered: the device's alert resolves, the asset's takes over.
    s.register(serde_json::json!([{
        "tag": "WEB-7", "name": "web", "type": "server", "owner": "ops", "lifecycle": "deployed",
        "lifecycle_since": "2020-01-01", "macs": ["00:1b:21:00:07:01"], "expected_segment": "198.18.0.0/24"
    }]));
    s.sweep(&LAB, T0 + HOUR, &[host.banner(80, "Microsoft-IIS/6.0")]);
    let live = s.live(AlertKind::EndOfLifeSoftware);
    assert_eq!(live.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(), ["asset:WEB-7"], "{live:#?}");
}

#[test]
fn a_registered_asset_is_judged_on_all_its_addresses_and_its_criticality_counts() {
    let s = Scenario::new();
    s.register(serde_json::json!([{
        "tag": "SRV-9", "name": "legacy", "type": "server", "owner": "ops", "lifecycle": "deployed",
        "lifecycle_since": "2020-01-01", "macs": ["00:1b:21:00:03:01", "00:1b:21:00:03:02"],
        "criticality": "high", "expected_segment": "198.18.0.0/24"
    }]));
    s.sweep(
        &LAB,
        T0,
        &[
            h("198.18.0.31", "00:1b:21:00:03:01").banner(80, "Microsoft-IIS/7.5"),
            h("198.18.0.32", "00:1b:21:00:03:02").banner(22, BOOKWORM),
        ],
    );
    let live = s.live(AlertKind::EndOfLifeSoftware);
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!((live[0].subject.as_str(), live[0].tag.as_deref()), ("asset:SRV-9", Some("SRV-9")));
    assert_eq!(live[0].severity, Severity::Critical, "high, raised one step for a high-criticality asset");
    let e = evidence(&live[0]);
    assert_eq!(e["asset"]["tag"], "SRV-9");
    assert_eq!(e["software"][0]["release"], "Windows Server 2008 R2 (IIS 7.5)");
    assert_eq!(e["seen"].as_array().unwrap().len(), 1, "only the host that showed it: {e}");
    // The host goes quiet: switched off is not upgraded.
    s.sweep(&LAB, T0 + DAY, &[h("198.18.0.32", "00:1b:21:00:03:02").banner(22, BOOKWORM)]);
    s.full(T0 + 20 * DAY);
    assert_eq!(s.live(AlertKind::EndOfLifeSoftware).len(), 1);
}

#[test]
fn an_operators_date_for_extended_support_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("eol.toml");
    std::fs::write(
        &f,
        "[[release]]\nproduct = \"debian\"\nrelease = \"9\"\nname = \"Debian 9 with ELTS\"\n\
         ends = \"2027-06-30\"\nsource = \"Freexian ELTS contract 12\"\n",
    )
    .unwrap();
    let cfg =
        ReconcileConfig { end_of_life: Arc::new(censusd::eol::EolTable::with_file(&f).unwrap()), ..Default::default() };
    let s = Scenario::with(cfg);
    s.sweep(&LAB, T0, &[h("198.18.0.40", "00:1b:21:00:04:01").banner(22, STRETCH)]);
    assert!(s.live(AlertKind::EndOfLifeSoftware).is_empty(), "supported until 2027 by contract");
}
