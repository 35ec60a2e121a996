//! `retired-credential-in-use`: scenarios through the real ingest and
//! reconcile. A disposed laptop's client certificate (recorded in the
//! register) served by another host raises one critical alert naming the
//! certificate and where it is served; it stays open (marked absent) when
//! the certificate is no longer served, and resolves when the register no
//! longer records it. A certificate learned from a decommissioned server and
//! served by another asset's host raises it too; served by the server
//! itself it is `should-be-retired`'s business.

mod scenario;

use censusd::alerts::{AlertKind, AlertState, Severity};
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn evidence(a: &censusd::alerts::Alert) -> serde_json::Value {
    serde_json::to_value(&a.evidence).unwrap()
}

#[test]
fn a_disposed_laptops_client_certificate_served_by_another_host_raises_one_alert() {
    let s = Scenario::new();
    let vpn = sha('c');
    s.register(serde_json::json!([
        { "tag": "LT-1", "name": "leaver laptop", "type": "endpoint", "owner": "ops", "lifecycle": "disposed",
          "lifecycle_since": "2026-10-01", "macs": ["00:1b:21:00:30:01"],
          "certificates": [{ "label": "vpn", "sha256": vpn.to_uppercase() }] },
    ]));
    let stranger = || h("198.18.0.30", "00:1b:21:00:30:99").cert(443, &vpn, T0 + 200 * DAY);
    s.sweep(&LAB, T0, &[stranger()]);
    s.sweep(&LAB, T0 + HOUR, &[stranger()]);
    let live = s.live(AlertKind::RetiredCredentialInUse);
    assert_eq!(live.len(), 1, "{live:#?}");
    let a = &live[0];
    assert_eq!(a.subject, "asset:LT-1");
    assert_eq!(a.severity, Severity::Critical, "a disposed asset's credential");
    let e = evidence(a);
    assert_eq!(e["credentials"][0]["sha256"], vpn.as_str(), "stored lowercase: {e}");
    assert_eq!(e["credentials"][0]["label"], "vpn");
    assert_eq!(e["credentials"][0]["tie"], "recorded");
    assert_eq!(e["credentials"][0]["served_at"], serde_json::json!(["198.18.0.30:443"]));
    assert_eq!(e["seen"][0]["ip"], "198.18.0.30");
    assert!(
        a.summary.contains("LT-1 is disposed since 2026-10-01") && a.summary.contains("198.18.0.30:443"),
        "{}",
        a.summary
    );
    assert!(s.live(AlertKind::ShouldBeRetired).is_empty(), "the laptop itself is not answering");

    // No longer served: a full run marks it absent; it stays for a person.
    s.sweep(&LAB, T0 + 2 * HOUR, &[h("198.18.0.30", "00:1b:21:00:30:99")]);
    s.full(T0 + 3 * HOUR);
    let live = s.live(AlertKind::RetiredCredentialInUse);
    assert_eq!(live.len(), 1);
    assert!(live[0].absent_since_ms.is_some(), "{live:#?}");
    // Served again: present again, the same alert.
    s.sweep(&LAB, T0 + 4 * HOUR, &[stranger()]);
    s.full(T0 + 5 * HOUR);
    assert_eq!(s.live(AlertKind::RetiredCredentialInUse)[0].absent_since_ms, None);
    // The register no longer records it (revoked and removed): resolved.
    s.update("LT-1", |a| a.certificates.clear());
    s.full(T0 + 6 * HOUR);
    let all = s.of_kind(AlertKind::RetiredCredentialInUse);
    assert_eq!(all.len(), 1, "one alert throughout: {all:#?}");
    assert_eq!(all[0].state, AlertState::Resolved);
}

#[test]
fn a_learned_certificate_counts_when_another_asset_serves_it_not_when_the_server_itself_does() {
    let s = Scenario::new();
    let srv_cert = sha('d');
    s.register(serde_json::json!([
        { "tag": "SRV-2", "name": "old app server", "type": "server", "owner": "ops", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:31:02"], "expected_segment": "198.18.0.0/24" },
        { "tag": "WEB-9", "name": "new web server", "type": "server", "owner": "ops", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:31:09"], "expected_segment": "198.18.0.0/24" },
    ]));
    // Matched by its MAC while in service: its certificate is learned.
    s.sweep(&LAB, T0, &[h("198.18.0.32", "00:1b:21:00:31:02").cert(443, &srv_cert, T0 + 300 * DAY)]);
    s.update("SRV-2", |a| {
        a.lifecycle = censusd::register::Lifecycle::Decommissioned;
        a.lifecycle_since = Some("2026-11-02".parse().unwrap());
    });
    s.full(T0 + DAY);
    // The new web server serves the old server's certificate (copied over).
    s.sweep(&LAB, T0 + 2 * DAY, &[h("198.18.0.39", "00:1b:21:00:31:09").cert(443, &srv_cert, T0 + 300 * DAY)]);
    let live = s.live(AlertKind::RetiredCredentialInUse);
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].subject, "asset:SRV-2");
    assert_eq!(live[0].severity, Severity::High, "decommissioned, not disposed");
    assert_eq!(evidence(&live[0])["credentials"][0]["tie"], "learned");

    // The old server itself answering with its certificate: should-be-retired, no second kind of alert for it.
    let s2 = Scenario::new();
    s2.register(serde_json::json!([
        { "tag": "SRV-3", "name": "old", "type": "server", "owner": "ops", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:32:03"], "expected_segment": "198.18.0.0/24" },
    ]));
    s2.sweep(&LAB, T0, &[h("198.18.0.33", "00:1b:21:00:32:03").cert(443, &srv_cert, T0 + 300 * DAY)]);
    s2.update("SRV-3", |a| {
        a.lifecycle = censusd::register::Lifecycle::Decommissioned;
        a.lifecycle_since = Some("2026-11-02".parse().unwrap());
    });
    s2.sweep(&LAB, T0 + 2 * DAY, &[h("198.18.0.33", "00:1b:21:00:32:03").cert(443, &srv_cert, T0 + 300 * DAY)]);
    assert_eq!(s2.live(AlertKind::ShouldBeRetired).len(), 1);
    assert!(s2.live(AlertKind::RetiredCredentialInUse).is_empty());
}

#[test]
fn recorded_certificates_are_checked_and_round_trip_through_csv() {
    use censusd::register::csv::{CsvOptions, parse_csv, to_csv};
    let bad = serde_json::json!({ "tag": "LT-5", "name": "x", "type": "endpoint", "lifecycle": "deployed",
        "certificates": [{ "label": "vpn", "sha256": "12ab" }, { "label": "wifi" }, { "label": "x", "serial": "01" }] });
    let errors = censusd::register::model::asset_from_json(bad).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["certificates[0]", "certificates[1]", "certificates[2]"], "{errors:?}");
    assert!(errors[2].message.contains("too short to identify a certificate alone"), "{}", errors[2].message);
    let good = serde_json::json!({ "tag": "LT-5", "name": "x", "type": "endpoint", "lifecycle": "deployed",
        "certificates": [{ "label": "vpn", "sha256": sha('E') }, { "label": "802.1x", "serial": "00:8A:1B:2C:3D:4E:5F:60:71" }] });
    let a = censusd::register::model::asset_from_json(good).unwrap();
    assert_eq!(a.certificates[1].serial.as_deref(), Some("8a1b2c3d4e5f6071"));
    let csv = to_csv(std::slice::from_ref(&a), CsvOptions::default());
    assert!(csv.contains(&format!("vpn|{};802.1x||8a1b2c3d4e5f6071", sha('e'))), "{csv}");
    let (patches, errors) = parse_csv(csv.as_bytes(), CsvOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    let back = censusd::register::model::asset_from_json(serde_json::Value::Object(patches[0].values.clone())).unwrap();
    assert_eq!(back.certificates, a.certificates);
}
