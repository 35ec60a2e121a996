//! Verified retirement: the checklist an asset goes through from
//! decommissioned to disposed, with the evidence Census checks itself.
//!
//! | step | passes when | evidence |
//! |---|---|---|
//! | `no-answer` | no answer over `reconcile.retirement_sweeps` (default 3) complete sweeps covering it since the later of the decommissioning and its last answer | its last answer (where, when, which agent), the sweeps counted and the last one's time |
//! | `credentials` | none of its certificates (recorded in the register or learned from it) is served by a host on the network | where they are served (`retired-credential-in-use`) |
//! | `coverage-sources` | not checked: no coverage sources are connected yet | — |
//! | `wipe` | a person attested the data wipe with a reference (e.g. the wipe certificate's id) | who, when, the reference and the note |
//! | `disposal` | the asset is disposed | the day |
//!
//! The checklist starts when the asset is decommissioned: the start of its
//! `lifecycle_since` day, kept in its record (written after each full
//! reconcile, [`crate::app::retirement::track`]) so that the disposal,
//! which moves `lifecycle_since`, does not restart the sweep count.
//!
//! Retirement is **verified** when every step that can be checked passed;
//! the moment it happens (the disposal with every other step passed) is
//! written to the audit log (`retirement.verified`) and kept. Disposing an
//! asset whose other steps did not all pass is refused unless forced with a
//! reason, which is kept and audited (`retirement.forced`).

use serde::{Deserialize, Serialize};

use crate::reconcile::rules::AssetState;
use crate::reconcile::sweeps::Misses;
use crate::register::{Asset, Day, Lifecycle};

crate::word_enum!(
    /// Where a step is.
    StepState { /// Checked and holds.
    Passed => "passed", /// Checked and does not hold (the evidence says why).
    Failed => "failed", /// Not yet: waiting for sweeps, a person, or the disposal.
    Pending => "pending", /// Census cannot check it here.
    NotChecked => "not-checked" }
);

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// `no-answer`, `credentials`, `coverage-sources`, `wipe`, `disposal`.
    pub step: String,
    /// Where it is.
    pub state: StepState,
    /// What shows it, for people.
    pub evidence: String,
    /// When it passed (unix ms), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
}

/// A person's attestation that the asset's data was wiped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Wipe {
    /// The wipe certificate's or ticket's id.
    pub reference: String,
    /// What was done.
    #[serde(default)]
    pub note: String,
    /// Who attested.
    pub by: String,
    /// When (unix ms).
    pub at_ms: i64,
}

/// A disposal forced past unmet steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forced {
    /// Who.
    pub by: String,
    /// When (unix ms).
    pub at_ms: i64,
    /// Why.
    pub reason: String,
    /// The steps not passed at the time.
    pub unmet: Vec<String>,
}

/// What is kept about an asset's retirement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetirementRecord {
    /// Asset tag.
    pub tag: String,
    /// When its checklist started: the start of the day it was
    /// decommissioned (unix ms), kept through the disposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    /// The wipe attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<Wipe>,
    /// When retirement was verified (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_ms: Option<i64>,
    /// The disposal was forced past unmet steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<Forced>,
    /// When it was disposed (unix ms), as the register change was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposed_ms: Option<i64>,
}

/// An asset's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checklist {
    /// Asset tag.
    pub tag: String,
    /// Name.
    pub name: String,
    /// Lifecycle stage.
    pub lifecycle: Lifecycle,
    /// Since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Day>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Every checkable step passed.
    pub verified: bool,
    /// When verification was recorded (unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_ms: Option<i64>,
    /// A disposal forced past unmet steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<Forced>,
}

/// What the checklist is judged on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The asset.
    pub asset: &'a Asset,
    /// Reconciliation's memory of it.
    pub state: Option<&'a AssetState>,
    /// Complete sweeps covering it since the later of its decommissioning
    /// and its last answer (`None`: nothing to sweep it by — no address,
    /// no expected segment).
    pub sweeps: Option<Misses>,
    /// Sweeps needed (`reconcile.retirement_sweeps`).
    pub needed: usize,
    /// Where its certificates are served now (`IP:PORT`), empty when nowhere.
    pub credentials_served: Vec<String>,
    /// What is kept.
    pub record: Option<&'a RetirementRecord>,
    /// When its checklist started (the decommissioning; unix ms, `i64::MIN` when unknown).
    pub change_ms: i64,
    /// The loaded coverage sources (each `name (loaded DATE)`), empty when none is.
    pub sources: Vec<String>,
    /// The sources still listing it (from live `retired-still-enrolled` alerts).
    pub listed_by: Vec<String>,
}

fn fmt(ms: i64) -> String {
    crate::reconcile::assets::fmt_ms(ms)
}

/// The `no-answer` step.
fn no_answer(f: &Facts<'_>) -> Step {
    let step = |state, evidence: String, since_ms| Step { step: "no-answer".into(), state, evidence, since_ms };
    let last = f.state.and_then(|s| s.last_seen_ms);
    let where_last = f
        .state
        .map(|s| format!(" at {} by {}", s.last_ip.as_deref().unwrap_or("?"), s.last_agent.as_deref().unwrap_or("?")))
        .unwrap_or_default();
    let Some(m) = f.sweeps.filter(|m| m.covered) else {
        return step(
            StepState::NotChecked,
            "no complete sweep covers it (no address seen or recorded, no expected segment swept)".into(),
            None,
        );
    };
    let answered_since = last.is_some_and(|l| l >= f.change_ms);
    let base = match (last, answered_since) {
        (Some(l), true) => format!("answered{where_last} on {} after it was decommissioned", fmt(l)),
        (Some(l), false) => format!("last answered{where_last} on {}, before it was decommissioned", fmt(l)),
        (None, _) => "never seen by a sweep".to_string(),
    };
    let counted = format!("{} of {} complete sweeps since without an answer", m.count.min(f.needed), f.needed);
    if m.count >= f.needed {
        step(
            StepState::Passed,
            format!("{base}; {counted} (latest finished {})", fmt(m.last_finish_ms)),
            Some(m.last_finish_ms),
        )
    } else if answered_since && m.count == 0 {
        step(StepState::Failed, format!("{base}: still answering; {counted}"), None)
    } else {
        step(StepState::Pending, format!("{base}; {counted}"), None)
    }
}

/// The checklist of a decommissioned or disposed asset (`None` for one in
/// another stage).
pub fn checklist(f: &Facts<'_>) -> Option<Checklist> {
    let a = f.asset;
    if !a.lifecycle.retired() {
        return None;
    }
    let mut steps = vec![no_answer(f)];
    steps.push(if f.credentials_served.is_empty() {
        Step {
            step: "credentials".into(),
            state: StepState::Passed,
            evidence: "none of its certificates (recorded or learned) is served on the network".into(),
            since_ms: None,
        }
    } else {
        Step {
            step: "credentials".into(),
            state: StepState::Failed,
            evidence: format!("its certificates are served at {}", f.credentials_served.join(", ")),
            since_ms: None,
        }
    });
    steps.push(if f.sources.is_empty() {
        Step {
            step: "coverage-sources".into(),
            state: StepState::NotChecked,
            evidence: "no coverage sources (EDR, MDM, directory) are loaded to check it is no longer enrolled".into(),
            since_ms: None,
        }
    } else if f.listed_by.is_empty() {
        Step {
            step: "coverage-sources".into(),
            state: StepState::Passed,
            evidence: format!("in no coverage source's list: {}", f.sources.join(", ")),
            since_ms: None,
        }
    } else {
        Step {
            step: "coverage-sources".into(),
            state: StepState::Failed,
            evidence: format!(
                "still listed by {} (remove it from monitoring and revoke its enrolment)",
                f.listed_by.join(", ")
            ),
            since_ms: None,
        }
    });
    steps.push(match f.record.and_then(|r| r.wipe.as_ref()) {
        Some(w) => Step {
            step: "wipe".into(),
            state: StepState::Passed,
            evidence: format!(
                "attested by {} on {}: {}{}",
                w.by,
                fmt(w.at_ms),
                w.reference,
                if w.note.is_empty() { String::new() } else { format!(" ({})", w.note) }
            ),
            since_ms: Some(w.at_ms),
        },
        None => Step {
            step: "wipe".into(),
            state: StepState::Pending,
            evidence: "no wipe attested yet (censusd retirement attest-wipe)".into(),
            since_ms: None,
        },
    });
    steps.push(if a.lifecycle == Lifecycle::Disposed {
        Step {
            step: "disposal".into(),
            state: StepState::Passed,
            evidence: match f.record.and_then(|r| r.disposed_ms) {
                Some(at) => format!("disposed on {}", fmt(at)),
                None => format!("disposed{}", a.lifecycle_since.map(|d| format!(" on {d}")).unwrap_or_default()),
            },
            since_ms: f
                .record
                .and_then(|r| r.disposed_ms)
                .or_else(|| a.lifecycle_since.map(crate::reconcile::rules::day_start_ms)),
        }
    } else {
        Step { step: "disposal".into(), state: StepState::Pending, evidence: "not disposed yet".into(), since_ms: None }
    });
    let verified = steps.iter().all(|s| matches!(s.state, StepState::Passed | StepState::NotChecked));
    Some(Checklist {
        tag: a.tag.clone(),
        name: a.name.clone(),
        lifecycle: a.lifecycle,
        since: a.lifecycle_since,
        steps,
        verified,
        verified_ms: f.record.and_then(|r| r.verified_ms),
        forced: f.record.and_then(|r| r.forced.clone()),
    })
}

/// The steps other than the disposal that did not pass: what disposing it
/// now would leave unmet.
pub fn unmet_before_disposal(c: &Checklist) -> Vec<String> {
    c.steps
        .iter()
        .filter(|s| s.step != "disposal" && matches!(s.state, StepState::Failed | StepState::Pending))
        .map(|s| format!("{}: {}", s.step, s.evidence))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(lifecycle: &str) -> Asset {
        crate::register::model::asset_from_json(serde_json::json!({
            "tag": "SRV-9", "name": "old", "type": "server", "lifecycle": lifecycle, "lifecycle_since": "2026-11-02"
        }))
        .unwrap()
    }

    const CHANGE: i64 = 1_793_577_600_000; // 2026-11-02

    fn facts<'a>(
        a: &'a Asset,
        state: &'a AssetState,
        sweeps: usize,
        record: Option<&'a RetirementRecord>,
    ) -> Facts<'a> {
        Facts {
            asset: a,
            state: Some(state),
            sweeps: Some(Misses { count: sweeps, last_finish_ms: CHANGE + 9_000_000, covered: true }),
            needed: 3,
            credentials_served: vec![],
            record,
            change_ms: CHANGE,
            sources: vec![],
            listed_by: vec![],
        }
    }

    fn states(c: &Checklist) -> Vec<(&str, StepState)> {
        c.steps.iter().map(|s| (s.step.as_str(), s.state)).collect()
    }

    #[test]
    fn a_decommissioned_server_still_answering_fails_then_passes_after_enough_sweeps() {
        let a = asset("decommissioned");
        let answering = AssetState {
            last_seen_ms: Some(CHANGE + 3_600_000),
            last_ip: Some("198.18.0.9".into()),
            last_agent: Some("lab".into()),
            ..Default::default()
        };
        let c = checklist(&facts(&a, &answering, 0, None)).unwrap();
        assert_eq!(c.steps[0].state, StepState::Failed, "{:?}", c.steps[0]);
        assert!(c.steps[0].evidence.contains("198.18.0.9 by lab") && c.steps[0].evidence.contains("still answering"));
        assert!(!c.verified);
        let c = checklist(&facts(&a, &answering, 2, None)).unwrap();
        assert_eq!(c.steps[0].state, StepState::Pending, "2 of 3");
        let c = checklist(&facts(&a, &answering, 3, None)).unwrap();
        assert_eq!(c.steps[0].state, StepState::Passed);
        assert_eq!(c.steps[0].since_ms, Some(CHANGE + 9_000_000));
        let unmet: Vec<String> =
            unmet_before_disposal(&c).into_iter().map(|u| u.split(':').next().unwrap().to_string()).collect();
        assert_eq!(unmet, ["wipe"]);
    }

    #[test]
    fn attested_and_disposed_with_every_check_passed_is_verified() {
        let a = asset("disposed");
        let gone = AssetState { last_seen_ms: Some(CHANGE - 1), ..Default::default() };
        let record = RetirementRecord {
            tag: "SRV-9".into(),
            started_ms: Some(CHANGE),
            wipe: Some(Wipe {
                reference: "WIPE-77".into(),
                note: "DoD 5220.22-M".into(),
                by: "ann".into(),
                at_ms: CHANGE + 1,
            }),
            verified_ms: None,
            forced: None,
            disposed_ms: Some(CHANGE + 2),
        };
        let c = checklist(&facts(&a, &gone, 3, Some(&record))).unwrap();
        assert_eq!(
            states(&c),
            [
                ("no-answer", StepState::Passed),
                ("credentials", StepState::Passed),
                ("coverage-sources", StepState::NotChecked),
                ("wipe", StepState::Passed),
                ("disposal", StepState::Passed),
            ]
        );
        assert!(c.verified);
        assert!(c.steps[3].evidence.contains("WIPE-77"));
        // Its certificate served somewhere: not verified.
        let mut f = facts(&a, &gone, 3, Some(&record));
        f.credentials_served = vec!["198.18.0.30:443".into()];
        assert!(!checklist(&f).unwrap().verified);
        assert!(checklist(&facts(&asset("deployed"), &gone, 3, None)).is_none());
    }
}
