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
//! lose a clear, so it errs on the side of lookups. It is per process, and
//! follows the store: each run first adds the alerts stored since its last
//! look, whichever daemon sharing the store raised them, so a clear about
//! another daemon's alert is never dropped.

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

/// The process's [`Subjects`], loaded on first use and followed after.
#[derive(Default)]
pub struct Alerted {
    /// The set and the highest alert id it was read up to.
    subjects: Mutex<Option<(Arc<Subjects>, i64)>>,
}

impl Alerted {
    /// The set as it stands, for a run to filter its clears by: loaded
    /// from the store on first use, then added to at each call with the
    /// alerts stored since (by another daemon sharing the store, too: one
    /// query for the alerts numbered after the last one read).
    ///
    /// # Errors
    /// The store failed loading it.
    pub fn snapshot(&self, store: &dyn Store) -> Result<Arc<Subjects>, StoreError> {
        let after = self.subjects.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |(_, last)| *last);
        let (new, last) = store.alerted_subjects(AlertKind::ALL, after)?;
        let mut slot = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        let (set, read_to) = slot.get_or_insert_with(|| (Arc::new(Subjects::default()), 0));
        if new.iter().any(|(kind, subject)| !set.may_have(*kind, subject)) {
            let set = Arc::make_mut(set);
            for (kind, subject) in new {
                set.0.entry(kind).or_default().insert(subject);
            }
        }
        // Another caller may have read further meanwhile; the set only grows.
        *read_to = (*read_to).max(last);
        Ok(set.clone())
    }

    /// Record the plan's findings as alerted (before it is committed). The
    /// plan's own reference to the set is dropped first, so the set is
    /// added to in place rather than copied.
    pub fn record(&self, plan: &mut Plan) {
        plan.alerted = None;
        let mut slot = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        let Some((set, _)) = slot.as_mut() else { return };
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
