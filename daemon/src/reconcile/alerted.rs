//! Which subjects have ever had an alert, so a run does not look up alerts
//! for clears that cannot apply.
//!
//! Every sighting of a host yields clears — "this address answers from one
//! MAC" (identity conflict), "this device now matches an asset" (unknown
//! asset) — and nearly all of them are about subjects that never had an
//! alert. A clear only changes an alert that exists (live, or resolved by a
//! person and not yet marked absent), so clears of these per-host kinds
//! whose subject never had an alert are dropped before the run reads
//! alerts: half the lookups of a steady sweep.
//!
//! The set is a *superset* of the subjects with an alert: loaded from the
//! store once, and added to before every commit with the subjects of the
//! run's findings (the only way alerts of these kinds are created). Alerts
//! are never removed from it; a stale entry costs one lookup, a missing one
//! would lose a clear, so it errs on the side of lookups.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::alerts::AlertKind;
use crate::store::{Store, StoreError};

use super::Plan;

/// The kinds whose clears are dropped for subjects that never had an alert.
pub const PER_HOST_KINDS: [AlertKind; 2] = [AlertKind::UnknownAsset, AlertKind::IdentityConflict];

/// Subjects of [`PER_HOST_KINDS`] that have (or had) an alert; loaded on first use.
#[derive(Default)]
pub struct Alerted {
    subjects: Mutex<Option<HashMap<AlertKind, HashSet<String>>>>,
}

impl Alerted {
    /// Record the plan's findings as alerted, then drop its clears of
    /// per-host kinds about subjects that never had an alert.
    ///
    /// # Errors
    /// The store failed loading the set (first use only); the plan is unchanged then.
    pub fn prune(&self, store: &dyn Store, plan: &mut Plan) -> Result<usize, StoreError> {
        let mut slot = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let mut set: HashMap<AlertKind, HashSet<String>> = HashMap::new();
            for (kind, subject) in store.alerted_subjects(&PER_HOST_KINDS)? {
                set.entry(kind).or_default().insert(subject);
            }
            *slot = Some(set);
        }
        let Some(set) = slot.as_mut() else { return Ok(0) };
        for f in plan.findings.iter().filter(|f| PER_HOST_KINDS.contains(&f.kind)) {
            set.entry(f.kind).or_default().insert(f.subject.clone());
        }
        let before = plan.clears.len();
        plan.clears.retain(|(kind, subject), _| {
            !PER_HOST_KINDS.contains(kind) || set.get(kind).is_some_and(|s| s.contains(subject))
        });
        Ok(before - plan.clears.len())
    }
}
