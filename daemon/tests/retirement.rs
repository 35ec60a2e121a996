//! Verified retirement through the real ingest, reconcile and use cases: a
//! decommissioned server that keeps answering fails `no-answer` with the
//! evidence; switched off, it passes after `retirement_sweeps` complete
//! sweeps; the wipe is attested; disposed, the retirement is verified,
//! recorded once and audited.

mod scenario;

use censusd::retirement::StepState;
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};

fn states(c: &censusd::retirement::Checklist) -> Vec<(String, StepState)> {
    c.steps.iter().map(|s| (s.step.clone(), s.state)).collect()
}

#[test]
fn a_decommissioned_server_is_checked_off_the_network_attested_disposed_and_verified() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "SRV-7", "name": "old mail", "type": "server", "owner": "ops", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:50:07"], "expected_segment": "198.18.0.0/24" },
    ]));
    let other = h("198.18.0.2", "00:1b:21:00:50:02");
    let srv = h("198.18.0.57", "00:1b:21:00:50:07");
    s.sweep(&LAB, T0, &[other.clone(), srv.clone()]);
    // Decommissioned on paper the next day; still answering.
    s.update("SRV-7", |a| {
        a.lifecycle = censusd::register::Lifecycle::Decommissioned;
        a.lifecycle_since = Some("2026-11-02".parse().unwrap());
    });
    s.sweep(&LAB, T0 + DAY + HOUR, &[other.clone(), srv.clone()]);
    let now = T0 + DAY + 2 * HOUR;
    // The schedule's full reconcile starts the checklist.
    assert_eq!(censusd::app::retirement::track(&s.rec, now).unwrap(), 0);
    let c = censusd::app::retirement::one(&s.rec, "srv-7", now).unwrap();
    assert_eq!(c.steps[0].state, StepState::Failed, "{:#?}", c.steps);
    assert!(
        c.steps[0].evidence.contains("198.18.0.57") && c.steps[0].evidence.contains("still answering"),
        "{}",
        c.steps[0].evidence
    );
    assert!(!c.verified);

    // Switched off: two complete sweeps are not enough, three are.
    for i in 1..=2 {
        s.sweep(&LAB, T0 + DAY + (2 + i) * HOUR, std::slice::from_ref(&other));
    }
    let c = censusd::app::retirement::one(&s.rec, "SRV-7", T0 + DAY + 5 * HOUR).unwrap();
    assert_eq!(c.steps[0].state, StepState::Pending, "{}", c.steps[0].evidence);
    s.sweep(&LAB, T0 + DAY + 5 * HOUR, std::slice::from_ref(&other));
    let c = censusd::app::retirement::one(&s.rec, "SRV-7", T0 + DAY + 6 * HOUR).unwrap();
    assert_eq!(c.steps[0].state, StepState::Passed, "{}", c.steps[0].evidence);
    assert!(c.steps[0].since_ms.is_some(), "dated by the third sweep");

    // Disposing before the wipe is attested: refused, naming the step.
    let ann = censusd::people::Principal::person("ann", censusd::people::Role::Analyst);
    let early = censusd::app::retirement::dispose(&s.rec, &ann, "SRV-7", None, T0 + 2 * DAY).unwrap_err().to_string();
    assert!(early.contains("unmet steps") && early.contains("wipe"), "{early}");
    assert_eq!(s.store.asset("SRV-7").unwrap().unwrap().lifecycle, censusd::register::Lifecycle::Decommissioned);
    // So is an import doing it, naming the row; a PUT likewise.
    let csv = "tag,lifecycle\nSRV-7,disposed\n";
    let format = censusd::register::csv::Format::Csv(Default::default());
    let opts = censusd::register::patch::ImportOptions::default();
    let admin = censusd::people::Principal::builtin_admin();
    let Err(censusd::app::register::ImportFailure::Invalid(p)) =
        censusd::app::register::import(&s.rec, csv.as_bytes(), format, opts, false, &admin)
    else {
        panic!("the import was not refused");
    };
    assert_eq!((p[0].row, p[0].column.as_str()), (1, "lifecycle"), "{p:?}");
    // The wipe attested by a person; then disposed: verified.
    let bad = censusd::app::retirement::attest_wipe(&s.rec, &ann, "SRV-7", " ", "", T0 + 2 * DAY);
    assert!(bad.unwrap_err().to_string().contains("reference"));
    let c = censusd::app::retirement::attest_wipe(
        &s.rec,
        &ann,
        "SRV-7",
        "WIPE-2026-0117",
        "NIST 800-88 purge",
        T0 + 2 * DAY,
    )
    .unwrap();
    assert_eq!(c.steps[3].state, StepState::Passed);
    assert!(c.steps[3].evidence.contains("ann") && c.steps[3].evidence.contains("WIPE-2026-0117"));
    assert!(!c.verified, "not disposed yet");
    let c = censusd::app::retirement::dispose(&s.rec, &ann, "SRV-7", None, T0 + 2 * DAY + HOUR).unwrap();
    assert_eq!(c.lifecycle, censusd::register::Lifecycle::Disposed);
    assert!(c.forced.is_none());
    // Dated when it was disposed, not at midnight (break-attempt regression).
    assert_eq!((c.steps[4].step.as_str(), c.steps[4].since_ms), ("disposal", Some(T0 + 2 * DAY + HOUR)));
    let report = censusd::app::retirement::all(&s.rec, T0 + 3 * DAY).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        states(&report[0]),
        [
            ("no-answer".to_string(), StepState::Passed),
            ("credentials".to_string(), StepState::Passed),
            ("coverage-sources".to_string(), StepState::NotChecked),
            ("wipe".to_string(), StepState::Passed),
            ("disposal".to_string(), StepState::Passed),
        ]
    );
    // Recorded by the disposal itself, so what it answered is what the audit
    // log keeps (break-attempt regression: recorded only at the next run).
    assert!(report[0].verified && report[0].verified_ms == Some(T0 + 2 * DAY + HOUR), "{:?}", report[0]);
    assert_eq!(censusd::app::retirement::track(&s.rec, T0 + 3 * DAY).unwrap(), 0, "recorded once");
    let c = censusd::app::retirement::one(&s.rec, "SRV-7", T0 + 4 * DAY).unwrap();
    assert_eq!(c.verified_ms, Some(T0 + 2 * DAY + HOUR));
    let f = censusd::audit::AuditFilter {
        action: Some(censusd::audit::AuditAction::RetirementVerified),
        limit: 10,
        ..Default::default()
    };
    let audit = s.store.audit(&f).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.subject, "asset:SRV-7");
    // A deployed asset has no checklist.
    s.register(serde_json::json!([{ "tag": "SRV-8", "name": "n", "type": "server", "lifecycle": "deployed" }]));
    assert!(censusd::app::retirement::one(&s.rec, "SRV-8", T0 + 4 * DAY).unwrap_err().to_string().contains("deployed"));
}

/// The deployment-incomplete view: a deployed asset whose owner left and one
/// never seen are listed with what they lack; a complete one is not.
#[test]
fn deployed_assets_lacking_an_owner_or_a_presence_are_listed() {
    let s = Scenario::new();
    s.people("id,status,left_on\nada,active,\nbob,left,2026-10-31\n");
    s.register(serde_json::json!([
        { "tag": "WS-1", "name": "ok", "type": "endpoint", "owner": "ada", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:60:01"] },
        { "tag": "WS-2", "name": "leaver's", "type": "endpoint", "owner": "bob", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:60:02"] },
        { "tag": "WS-3", "name": "in a drawer", "type": "endpoint", "owner": "ada", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:60:03"] },
    ]));
    s.sweep(&LAB, T0, &[h("198.18.0.61", "00:1b:21:00:60:01"), h("198.18.0.62", "00:1b:21:00:60:02")]);
    let view = censusd::app::query::deployments(&s.rec, T0 + HOUR).unwrap();
    let listed: Vec<(&str, Vec<&str>)> =
        view.iter().map(|i| (i.tag.as_str(), i.missing.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        listed,
        [("WS-2", vec!["owner: bob has left (2026-10-31)"]), ("WS-3", vec!["seen: never seen by a sweep"])]
    );
}

fn admin() -> censusd::people::Principal {
    censusd::people::Principal::builtin_admin()
}

/// Break-attempt regression: the checklist and `should-be-retired` start at
/// the moment of the change, not at the start of its day — sweeps that saw
/// the asset earlier that day neither count as "since without an answer"
/// nor as answering after it was decommissioned.
#[test]
fn a_retirement_starts_at_the_change_not_the_start_of_its_day() {
    let s = Scenario::new();
    s.register(serde_json::json!([
        { "tag": "SRV-9", "name": "n", "type": "server", "lifecycle": "deployed", "macs": ["00:1b:21:00:59:09"] },
    ]));
    let srv = h("198.18.0.59", "00:1b:21:00:59:09");
    for i in 0..3 {
        s.sweep(&LAB, T0 + i * HOUR, std::slice::from_ref(&srv));
    }
    let change = T0 + 2 * HOUR + 30 * 60_000;
    let mut a = s.store.asset("SRV-9").unwrap().unwrap();
    a.lifecycle = censusd::register::Lifecycle::Decommissioned;
    a.lifecycle_since = Some(censusd::reconcile::rules::day_of(change));
    censusd::app::register::update(&s.rec, &admin(), &a, change).unwrap();
    let c = censusd::app::retirement::one(&s.rec, "SRV-9", change + 60_000).unwrap();
    assert_eq!(c.steps[0].state, StepState::Pending, "{}", c.steps[0].evidence);
    assert!(c.steps[0].evidence.contains("0 of 3"), "{}", c.steps[0].evidence);
    s.full(change + 60_000);
    assert!(s.live(censusd::alerts::AlertKind::ShouldBeRetired).is_empty(), "seen before the change only");
    // Answering after the change is a breach, and fails the step.
    s.sweep(&LAB, T0 + 3 * HOUR, std::slice::from_ref(&srv));
    assert_eq!(s.live(censusd::alerts::AlertKind::ShouldBeRetired).len(), 1);
    let c = censusd::app::retirement::one(&s.rec, "SRV-9", T0 + 3 * HOUR + 60_000).unwrap();
    assert_eq!(c.steps[0].state, StepState::Failed, "{}", c.steps[0].evidence);
}

/// Break-attempt regressions: a stage dated in the future is refused; a
/// corrected `lifecycle_since` restarts the checklist from the corrected
/// day; a wipe attested in an earlier retirement does not carry over to
/// the next one; an asset entering the register already disposed (also
/// after a delete) is recorded as a forced disposal and audited.
#[test]
fn retirement_records_follow_the_register_and_nothing_skips_the_checklist() {
    let s = Scenario::new();
    let now = T0 + 10 * DAY;
    let format = censusd::register::csv::Format::Csv(Default::default());
    let opts = censusd::register::patch::ImportOptions::default();
    let import = |csv: &str| censusd::app::register::import(&s.rec, csv.as_bytes(), format, opts, false, &admin());
    import("tag,name,type,lifecycle,macs\nWEB-1,web,server,deployed,00:1b:21:00:61:01\n").unwrap();
    let Err(censusd::app::register::ImportFailure::Invalid(p)) =
        import("tag,lifecycle,lifecycle_since\nWEB-1,decommissioned,2999-01-01\n")
    else {
        panic!("a stage beginning in the future was taken");
    };
    assert_eq!((p[0].row, p[0].column.as_str()), (1, "lifecycle_since"), "{p:?}");
    assert!(p[0].message.contains("in the future"), "{}", p[0].message);

    let started = |tag: &str| {
        let r = s.store.retirements().unwrap();
        r.iter().find(|r| r.tag == tag).and_then(|r| r.started_ms)
    };
    import("tag,lifecycle,lifecycle_since\nWEB-1,decommissioned,2026-10-01\n").unwrap();
    let day = |d: &str| censusd::reconcile::rules::day_start_ms(d.parse().unwrap());
    assert_eq!(started("WEB-1"), Some(day("2026-10-01")), "backdated by a person: from that day");
    import("tag,lifecycle_since\nWEB-1,2026-10-20\n").unwrap();
    assert_eq!(started("WEB-1"), Some(day("2026-10-20")), "corrected: from the corrected day");

    censusd::app::retirement::attest_wipe(&s.rec, &admin(), "WEB-1", "WIPE-1", "", now).unwrap();
    import("tag,lifecycle\nWEB-1,deployed\n").unwrap();
    import("tag,lifecycle\nWEB-1,decommissioned\n").unwrap();
    let c = censusd::app::retirement::one(&s.rec, "WEB-1", now).unwrap();
    assert_eq!(c.steps[3].step, "wipe");
    assert_eq!(c.steps[3].state, StepState::Pending, "the earlier retirement's wipe: {}", c.steps[3].evidence);

    // Entering already disposed: by the API's create, by an import row, and after a delete.
    let mut a = censusd::register::model::asset_from_json(serde_json::json!(
        { "tag": "LT-2", "name": "laptop", "type": "endpoint", "lifecycle": "disposed" }
    ))
    .unwrap();
    censusd::app::register::create(&s.rec, &admin(), &a, now).unwrap();
    import("tag,name,type,lifecycle\nLT-3,laptop,endpoint,disposed\n").unwrap();
    assert!(censusd::app::register::delete(&s.rec, &admin(), "LT-2", now).unwrap());
    a.name = "laptop again".into();
    censusd::app::register::create(&s.rec, &admin(), &a, now + HOUR).unwrap();
    for tag in ["LT-2", "LT-3"] {
        let c = censusd::app::retirement::one(&s.rec, tag, now + 2 * HOUR).unwrap();
        let f = c.forced.unwrap_or_else(|| panic!("{tag} skipped its checklist unrecorded"));
        assert!(f.reason.contains("already disposed") && f.unmet.iter().any(|u| u.contains("wipe")), "{f:?}");
        assert!(!c.verified);
    }
    let f = censusd::audit::AuditFilter {
        action: Some(censusd::audit::AuditAction::RetirementForced),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.store.audit(&f).unwrap().len(), 3, "LT-2 twice, LT-3 once");
}
