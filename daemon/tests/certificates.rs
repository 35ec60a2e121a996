//! `certificate-expiring` and `certificate-expired`: scenarios through the
//! real ingest and reconcile. One alert per certificate however many hosts
//! serve it; expiring becomes expired; a renewal (no host serves the old
//! certificate any more) marks it absent at the next full run, for a person
//! to close, and a sweep that fetched no certificates does not; the lead
//! time is configurable.

mod scenario;

use censusd::alerts::{AlertKind, AlertState, Severity};
use censusd::config::ReconcileConfig;
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

#[test]
fn a_certificate_served_twice_is_one_alert_that_becomes_expired_and_is_marked_absent_when_renewed() {
    let s = Scenario::new();
    let old = sha('c');
    let ends = T0 + 10 * DAY;
    let web = |ip: &str, mac: &str, cert: &str, until: i64| h(ip, mac).cert(443, cert, until);
    s.sweep(
        &LAB,
        T0,
        &[web("198.18.0.50", "00:1b:21:00:05:01", &old, ends), web("198.18.0.51", "00:1b:21:00:05:02", &old, ends)],
    );
    let live = s.live(AlertKind::CertificateExpiring);
    assert_eq!(live.len(), 1, "{live:#?}");
    let a = &live[0];
    assert_eq!((a.subject.as_str(), a.severity), (format!("cert:{old}").as_str(), Severity::Medium));
    let e = serde_json::to_value(&a.evidence).unwrap();
    assert_eq!(e["served_at"], serde_json::json!(["198.18.0.50:443", "198.18.0.51:443"]), "{e}");
    assert_eq!(e["not_after_ms"], ends);
    assert!(a.summary.contains("and 1 more"), "{}", a.summary);

    // A week before the end it is high; after the end it is expired, and the expiring alert says so.
    s.sweep(&LAB, ends - 3 * DAY, &[web("198.18.0.50", "00:1b:21:00:05:01", &old, ends)]);
    assert_eq!(s.live(AlertKind::CertificateExpiring)[0].severity, Severity::High);
    s.sweep(&LAB, ends + HOUR, &[web("198.18.0.50", "00:1b:21:00:05:01", &old, ends)]);
    assert!(s.live(AlertKind::CertificateExpiring).is_empty());
    let expired = s.live(AlertKind::CertificateExpired);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].severity, Severity::High);
    let resolved = s.of_kind(AlertKind::CertificateExpiring);
    assert_eq!(resolved[0].state, AlertState::Resolved);

    // A sweep that fetched no certificates says nothing.
    let mut blind = scenario::batch(
        &LAB,
        ends + 90 * 60_000,
        &[h("198.18.0.50", "00:1b:21:00:05:01").ports(&[443]), h("198.18.0.51", "00:1b:21:00:05:02").ports(&[443])],
        None,
    );
    blind.completeness.enriched = false;
    s.deliver(&blind, ends + 91 * 60_000);
    s.full(ends + 92 * 60_000);
    assert_eq!(s.live(AlertKind::CertificateExpired)[0].absent_since_ms, None, "no certificates fetched, no verdict");

    // Renewed on both hosts: the next full run finds the old one served nowhere.
    let new = sha('d');
    let renewed = ends + 365 * DAY;
    s.sweep(
        &LAB,
        ends + 2 * HOUR,
        &[
            web("198.18.0.50", "00:1b:21:00:05:01", &new, renewed),
            web("198.18.0.51", "00:1b:21:00:05:02", &new, renewed),
        ],
    );
    s.full(ends + 3 * HOUR);
    let still = s.live(AlertKind::CertificateExpired);
    assert_eq!(still.len(), 1, "stays for a person to confirm the renewal");
    assert_eq!(still[0].absent_since_ms, Some(ends + 3 * HOUR), "served nowhere since the full run");
    assert!(s.live(AlertKind::CertificateExpiring).is_empty());
}

#[test]
fn the_lead_time_is_configurable() {
    let cfg = ReconcileConfig { certificate_lead: std::time::Duration::from_secs(5 * 86_400), ..Default::default() };
    let s = Scenario::with(cfg);
    s.sweep(&LAB, T0, &[h("198.18.0.60", "00:1b:21:00:06:01").cert(443, &sha('e'), T0 + 10 * DAY)]);
    assert!(s.live(AlertKind::CertificateExpiring).is_empty(), "10 days left, 5 days' lead");
    s.sweep(&LAB, T0 + 6 * DAY, &[h("198.18.0.60", "00:1b:21:00:06:01").cert(443, &sha('e'), T0 + 10 * DAY)]);
    assert_eq!(s.live(AlertKind::CertificateExpiring).len(), 1);
}

#[test]
fn an_expired_certificate_cannot_hide_behind_valid_ones_and_its_fingerprint_is_case_blind() {
    let s = Scenario::new();
    let mut host = h("198.18.0.70", "00:1b:21:00:07:01");
    for (i, port) in (9000..9030).enumerate() {
        let c = char::from_digit(u32::try_from(i % 10).unwrap(), 10).unwrap();
        host = host.cert(port, &format!("{}{}", "f".repeat(62), c.to_string().repeat(2)), T0 + 900 * DAY);
    }
    let upper = "AB".repeat(32);
    s.sweep(&LAB, T0, &[host.cert(443, &upper, T0 - DAY)]);
    let live = s.live(AlertKind::CertificateExpired);
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].subject, format!("cert:{}", upper.to_ascii_lowercase()));
}

/// The inventory says since when each certificate is served at each place:
/// the first sighting is kept while later sightings move only the last,
/// and a certificate moved to another port starts afresh there.
#[test]
fn the_inventory_says_since_when_a_certificate_is_served_where() {
    let s = Scenario::new();
    let cert = sha('d');
    let ends = T0 + 200 * DAY;
    s.sweep(&LAB, T0, &[h("198.18.0.60", "00:1b:21:00:06:01").cert(443, &cert, ends)]);
    s.sweep(&LAB, T0 + DAY, &[h("198.18.0.60", "00:1b:21:00:06:01").cert(443, &cert, ends)]);
    let inv = censusd::app::query::certificates(&s.rec, false, T0 + DAY + HOUR).unwrap();
    assert_eq!(inv.len(), 1);
    let at = &inv[0].served[0];
    assert_eq!((at.ip.as_str(), at.port), ("198.18.0.60", 443));
    // (A scenario host answers a second into its sweep.)
    assert_eq!(at.first_seen_ms, Some(T0 + 1000), "first served at the first sweep");
    assert_eq!(at.last_seen_ms, T0 + DAY + 1000);
    s.sweep(&LAB, T0 + 2 * DAY, &[h("198.18.0.60", "00:1b:21:00:06:01").cert(8443, &cert, ends)]);
    let inv = censusd::app::query::certificates(&s.rec, false, T0 + 2 * DAY + HOUR).unwrap();
    let at = &inv[0].served[0];
    assert_eq!((at.port, at.first_seen_ms), (8443, Some(T0 + 2 * DAY + 1000)), "a new place starts afresh");
    // Break-attempt regression: a host the sweeps no longer find serves nothing.
    for i in 1..=3 {
        s.sweep(&LAB, T0 + 2 * DAY + i * HOUR, &[h("198.18.0.61", "00:1b:21:00:06:02")]);
    }
    assert!(censusd::app::query::certificates(&s.rec, false, T0 + 2 * DAY + 4 * HOUR).unwrap().is_empty());
}
