//! `owner-departed`: scenarios through the real import, ingest and reconcile.
//! An endpoint whose owner left last week raises one alert with the leave
//! date and the last sighting, and resolves when it is reassigned; an owner
//! the directory does not know is a low one; a leave date still to come
//! says nothing until it comes; retiring the asset resolves it; without a
//! directory nothing is said; whois names the departure.

mod scenario;

use censusd::alerts::{AlertKind, AlertState, Severity};
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};

/// 2026-12-01: a week after Bob left.
const NOW: i64 = T0 + 30 * DAY;

const PEOPLE: &str = "id,name,email,team,status,left_on\n\
    u1,Ada Byron,ada@example.org,ops,active,\n\
    u2,Bob Stone,bob@example.org,ops,left,2026-11-24\n\
    u3,Cy Young,cy@example.org,dev,active,2026-12-20\n";

fn laptop(tag: &str, owner: &str, mac: &str) -> serde_json::Value {
    serde_json::json!({
        "tag": tag, "name": format!("{tag} laptop"), "type": "endpoint", "owner": owner, "lifecycle": "deployed",
        "lifecycle_since": "2025-01-01", "macs": [mac], "expected_segment": "198.18.0.0/24"
    })
}

fn evidence(a: &censusd::alerts::Alert) -> serde_json::Value {
    serde_json::to_value(&a.evidence).unwrap()
}

#[test]
fn an_endpoint_whose_owner_left_last_week_raises_one_alert_that_resolves_when_it_is_reassigned() {
    let s = Scenario::new();
    let plan = s.people(PEOPLE);
    assert_eq!(plan.added.len(), 3);
    s.register(serde_json::json!([laptop("LT-2", "Bob Stone", "00:1b:21:00:10:02")]));
    s.sweep(&LAB, NOW, &[h("198.18.0.42", "00:1b:21:00:10:02")]);
    s.full(NOW + HOUR);
    s.full(NOW + 2 * HOUR);
    let live = s.live(AlertKind::OwnerDeparted);
    assert_eq!(live.len(), 1, "{live:#?}");
    let a = &live[0];
    assert_eq!(a.subject, "asset:LT-2");
    assert_eq!(a.severity, Severity::High, "still used a week after its owner left");
    let e = evidence(a);
    assert_eq!(e["departure"], "left");
    assert_eq!(e["left_on"], "2026-11-24");
    assert_eq!(e["person"]["id"], "u2");
    assert_eq!(e["last_seen_day"], "2026-12-01");
    assert_eq!(e["last_ip"], "198.18.0.42");
    assert!(a.summary.contains("left on 2026-11-24") && a.summary.contains("198.18.0.42"), "{}", a.summary);
    let w = s.whois("LT-2", NOW).unwrap();
    assert!(w.verdict.contains("owned by Bob Stone, who left on 2026-11-24"), "{}", w.verdict);
    assert_eq!(w.owner.as_ref().map(|o| o.standing.as_str()), Some("left"));

    // Reassigned to Ada (by email): resolved, with the reason.
    s.update("LT-2", |a| a.owner = "ada@example.org".into());
    s.full(NOW + 3 * HOUR);
    let all = s.of_kind(AlertKind::OwnerDeparted);
    assert_eq!(all.len(), 1, "one alert throughout: {all:#?}");
    assert_eq!(all[0].state, AlertState::Resolved);
    assert!(all[0].resolution.as_deref().unwrap_or_default().contains("is active"), "{:?}", all[0].resolution);
}

#[test]
fn unknown_owners_are_low_future_leavers_wait_and_retired_assets_resolve() {
    let s = Scenario::new();
    s.people(PEOPLE);
    s.register(serde_json::json!([
        laptop("LT-9", "carol", "00:1b:21:00:10:09"),
        laptop("LT-3", "u3", "00:1b:21:00:10:03"),
        laptop("LT-4", "u2", "00:1b:21:00:10:04"),
        laptop("LT-5", "ops", "00:1b:21:00:10:05"),
    ]));
    s.full(NOW);
    let subjects = |s: &Scenario| -> Vec<(String, Severity)> {
        let mut v: Vec<(String, Severity)> =
            s.live(AlertKind::OwnerDeparted).into_iter().map(|a| (a.subject, a.severity)).collect();
        v.sort();
        v
    };
    // Never seen, owner left: medium; unknown owner: low; Cy leaves on the 20th; team ops has Ada.
    assert_eq!(subjects(&s), [("asset:LT-4".to_string(), Severity::Medium), ("asset:LT-9".to_string(), Severity::Low)]);
    let lt9 = s.live(AlertKind::OwnerDeparted).into_iter().find(|a| a.subject == "asset:LT-9").unwrap();
    assert_eq!(evidence(&lt9)["departure"], "unknown");
    assert!(
        lt9.summary.contains("not in the people directory") && lt9.summary.contains("never seen"),
        "{}",
        lt9.summary
    );

    // The 21st: Cy has gone.
    s.full(T0 + 50 * DAY);
    assert!(subjects(&s).contains(&("asset:LT-3".to_string(), Severity::Medium)), "{:?}", subjects(&s));
    // LT-4 decommissioned: its alert resolves.
    s.update("LT-4", |a| a.lifecycle = censusd::register::Lifecycle::Decommissioned);
    s.full(T0 + 50 * DAY + HOUR);
    assert!(!subjects(&s).iter().any(|(t, _)| t == "asset:LT-4"), "{:?}", subjects(&s));
    // Ada leaves too: team ops has nobody left.
    s.people("id,status,left_on\nu1,left,2026-12-15\n");
    s.full(T0 + 50 * DAY + 2 * HOUR);
    let team = s.live(AlertKind::OwnerDeparted).into_iter().find(|a| a.subject == "asset:LT-5").expect("team gone");
    assert_eq!(evidence(&team)["left_on"], "2026-12-15", "the last member's leave date");
}

#[test]
fn without_a_directory_nothing_is_said_about_owners() {
    let s = Scenario::new();
    s.register(serde_json::json!([laptop("LT-1", "whoever", "00:1b:21:00:10:01")]));
    s.sweep(&LAB, NOW, &[h("198.18.0.41", "00:1b:21:00:10:01")]);
    s.full(NOW + HOUR);
    assert!(s.of_kind(AlertKind::OwnerDeparted).is_empty());
    let w = s.whois("LT-1", NOW + HOUR).unwrap();
    assert!(w.owner.is_none());
    assert!(w.verdict.contains("owned by whoever;") || w.verdict.ends_with("owned by whoever"), "{}", w.verdict);
}
