//! Which subjects have ever had an alert, so a run neither keeps nor looks
//! up clears that cannot apply.
//!
//! Every run yields clears for nearly everything it looks at — "this
//! address answers from one MAC" (identity conflict), "this device now
//! matches an asset" (unknown asset), and for every asset evaluated "its
//! lifecycle is not retired", "its support is current", "it was seen
//! again" — and nearly all of them are about subjects that never had an
//! alert. A clear only changes an alert that exists (live, or resolved by a
//! person and not yet marked absent), so a run drops, as it makes them, the
//! clears whose (kind, subject) never had an alert: a full run over a
//! million assets would otherwise hold several million clears and look up
//! alerts for all of them.
//!
//! The set is a *superset* of the (kind, subject) pairs with an alert:
//! loaded from the store once, and added to before every commit with the
//! run's findings (the only way alerts are created). Nothing is ever
//! removed from it; a stale entry costs one lookup, a missing one would
//! lose a clear, so it errs on the side of lookups. It is per process: a
//! second daemon sharing the database would need to learn the alerts the
//! other one raised (see issue #15's several-daemons item) before it could
//! drop clears this way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::alerts::AlertKind;
use crate::store::{Store, StoreError};

use super::Plan;

/// The (kind, subject) pairs that have or had an alert.
#[derive(Debug, Clone, Default)]
pub struct Subjects(HashMap<AlertKind, foldhash::HashSet<String>>);

impl Subjects {
    /// `subject` may have an alert of `kind` (false only when it never had one).
    pub fn may_have(&self, kind: AlertKind, subject: &str) -> bool {
        self.0.get(&kind).is_some_and(|s| s.contains(subject))
    }

    /// Some subject may have an alert of `kind`.
    pub fn any(&self, kind: AlertKind) -> bool {
        self.0.get(&kind).is_some_and(|s| !s.is_empty())
    }
}

/// The process's [`Subjects`], loaded on first use.
#[derive(Default)]
pub struct Alerted {
    subjects: Mutex<Option<Arc<Subjects>>>,
}

impl Alerted {
    /// The set as it stands (loaded from the store on first use), for a run to filter its clears by.
    ///
    /// # Errors
    /// The store failed loading it.
    pub fn snapshot(&self, store: &dyn Store) -> Result<Arc<Subjects>, StoreError> {
        let mut slot = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let mut set = Subjects::default();
        for (kind, subject) in store.alerted_subjects(AlertKind::ALL)? {
            set.0.entry(kind).or_default().insert(subject);
        }
        let set = Arc::new(set);
        *slot = Some(set.clone());
        Ok(set)
    }

    /// Record the plan's findings as alerted (before it is committed). The
    /// plan's own reference to the set is dropped first, so the set is
    /// added to in place rather than copied.
    pub fn record(&self, plan: &mut Plan) {
        plan.alerted = None;
        let mut slot = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        let Some(set) = slot.as_mut() else { return };
        if plan.findings.iter().all(|f| set.may_have(f.kind, &f.subject)) {
            return;
        }
        let set = Arc::make_mut(set);
        for f in &plan.findings {
            if !set.may_have(f.kind, &f.subject) {
                set.0.entry(f.kind).or_default().insert(f.subject.clone());
            }
        }
    }
}
