//! Verified retirement on the lab, with the real agent: a host is
//! decommissioned in the register and keeps answering (the `no-answer`
//! step fails, naming where and when); disposing it then is refused; it is
//! switched off and passes after `retirement_sweeps` complete sweeps; the
//! wipe is attested; disposed, the retirement report shows every step with
//! its date and the retirement is verified and audited.

use std::sync::Arc;

use census_lab::spec::generated_host;
use census_tests::binary;
use censusd::reconcile::Reconciler;
use censusd::retirement::StepState;
use censusd::store::SqliteStore;
use censusd::store::prelude::*;

/// One sweep of the lab by the agent, delivered and reconciled.
fn sweep(lab: &census_lab::Lab, store: &Arc<dyn Store>, r: &Reconciler) {
    let scanner = lab.scanner_ip().to_string();
    let out = lab
        .scanner_command(binary("census-agent"))
        .args(["scan", "--json", "--agent-id", "lab-agent", "--ports", "22", "--no-names"])
        .args(["--exclude", &scanner, "--max-seconds", "60", "198.18.0.0/24"])
        .output()
        .expect("running census-agent in the lab");
    assert!(out.status.success(), "census-agent: {}", String::from_utf8_lossy(&out.stderr));
    let agent = store.agents().unwrap().remove(0);
    let now = censusd::store::now_ms();
    censusd::app::ingest::accept(store.as_ref(), r, &agent, &out.stdout, now).unwrap();
    r.full(censusd::store::now_ms()).unwrap();
    censusd::app::retirement::track(r, censusd::store::now_ms()).unwrap();
}

#[test]
fn a_lab_host_is_decommissioned_checked_switched_off_attested_disposed_and_verified() {
    let Some(lab) = census_lab::build_or_skip((0..3).map(generated_host).collect()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
    let r = Reconciler::new(store.clone(), &Default::default(), vec![], Arc::new(tokio::sync::Notify::new()));
    store
        .add_agent("lab-agent", &["198.18.0.0/24".parse().unwrap()], &[7; 32], &mut censusd::store::unaudited())
        .unwrap();
    let host = &lab.hosts()[0];
    let asset = censusd::register::model::asset_from_json(serde_json::json!({
        "tag": "SRV-LAB", "name": "old build server", "type": "server", "owner": "ops", "lifecycle": "deployed",
        "macs": [host.mac.to_string()], "expected_segment": "198.18.0.0/24"
    }))
    .unwrap();
    let admin = censusd::people::Principal::builtin_admin();
    censusd::app::register::create(&r, &admin, &asset, censusd::store::now_ms()).unwrap();
    sweep(&lab, &store, &r);

    // Decommissioned on paper today; it keeps answering.
    let mut decommissioned = asset.clone();
    decommissioned.lifecycle = censusd::register::Lifecycle::Decommissioned;
    decommissioned.lifecycle_since = Some(censusd::reconcile::rules::day_of(censusd::store::now_ms()));
    censusd::app::register::update(&r, &admin, &decommissioned, censusd::store::now_ms()).unwrap();
    sweep(&lab, &store, &r);
    let c = censusd::app::retirement::one(&r, "SRV-LAB", censusd::store::now_ms()).unwrap();
    assert_eq!(c.steps[0].state, StepState::Failed, "{:#?}", c.steps);
    assert!(c.steps[0].evidence.contains(&host.ip.to_string()), "{}", c.steps[0].evidence);
    // Disposing it now is refused, naming the steps.
    let ann = censusd::people::Principal::person("ann", censusd::people::Role::Analyst);
    let refused = censusd::app::retirement::dispose(&r, &ann, "SRV-LAB", None, censusd::store::now_ms()).unwrap_err();
    assert!(refused.to_string().contains("no-answer") && refused.to_string().contains("wipe"), "{refused}");

    // Switched off: the step passes after the configured complete sweeps (3).
    lab.set_host_link(0, false).unwrap();
    for i in 0..3 {
        sweep(&lab, &store, &r);
        let c = censusd::app::retirement::one(&r, "SRV-LAB", censusd::store::now_ms()).unwrap();
        let want = if i < 2 { StepState::Pending } else { StepState::Passed };
        assert_eq!(c.steps[0].state, want, "after {} sweeps off: {}", i + 1, c.steps[0].evidence);
    }

    // The wipe attested, then disposed: every step passed, with its date.
    censusd::app::retirement::attest_wipe(
        &r,
        &ann,
        "SRV-LAB",
        "WIPE-LAB-1",
        "NIST 800-88 purge",
        censusd::store::now_ms(),
    )
    .unwrap();
    censusd::app::retirement::dispose(&r, &ann, "SRV-LAB", None, censusd::store::now_ms()).unwrap();
    sweep(&lab, &store, &r);
    let report = censusd::app::retirement::all(&r, censusd::store::now_ms()).unwrap();
    assert_eq!(report.len(), 1);
    let c = &report[0];
    let steps: Vec<(&str, StepState, bool)> =
        c.steps.iter().map(|s| (s.step.as_str(), s.state, s.since_ms.is_some())).collect();
    assert_eq!(
        steps,
        [
            ("no-answer", StepState::Passed, true),
            ("credentials", StepState::Passed, false),
            ("coverage-sources", StepState::NotChecked, false),
            ("wipe", StepState::Passed, true),
            ("disposal", StepState::Passed, true),
        ]
    );
    assert!(c.verified && c.verified_ms.is_some(), "{c:#?}");
    let f = censusd::audit::AuditFilter {
        action: Some(censusd::audit::AuditAction::RetirementVerified),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.audit(&f).unwrap().len(), 1);
    census_lab::report_checked("retirement_lab", &lab, lab.hosts().len());
}
