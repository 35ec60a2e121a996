//! A person acts on an alert.

use serde::Serialize;

use crate::alerts::lifecycle::act as decide;
use crate::alerts::{Alert, AlertAction, AlertFilter, Suppression};
use crate::reconcile::Reconciler;
use crate::store::StoreError;

/// Acknowledge or resolve alert `id` as `actor`; `None` when there is no such alert.
///
/// # Errors
/// `StoreError::Refused` when the alert is already resolved; the store failed.
pub fn act(
    rec: &Reconciler,
    id: i64,
    action: AlertAction,
    actor: &str,
    note: Option<&str>,
    now_ms: i64,
) -> Result<Option<Alert>, StoreError> {
    let routes = rec.routes().to_vec();
    let out = rec.store().alert_action(id, &mut |a: Alert| {
        let mut c = decide(a, action, actor, note, now_ms)?;
        if c.notify {
            c.sinks = crate::alerts::notify::targets(&routes, c.alert.severity);
        }
        Ok(c)
    })?;
    rec.wake_notifier();
    Ok(out)
}

/// A stored rule and how many live alerts it holds now.
#[derive(Debug, Clone, Serialize)]
pub struct AddedRule {
    /// The rule.
    #[serde(flatten)]
    pub rule: Suppression,
    /// Live alerts it matches now (they become suppressed at the next reconcile).
    pub matching_alerts: usize,
}

/// Live alerts `rule` would hold at `now_ms` (a preview, before storing it).
///
/// # Errors
/// The store failed.
pub fn preview(rec: &Reconciler, rule: &Suppression, now_ms: i64) -> Result<usize, StoreError> {
    let live = rec.store().alerts(&AlertFilter { limit: Some(u32::MAX), ..Default::default() })?;
    Ok(live.iter().filter(|a| rule.matches_alert(a, now_ms)).count())
}

/// Store a suppression rule and say how many live alerts it matches.
///
/// # Errors
/// The store failed.
pub fn add_suppression(rec: &Reconciler, rule: &Suppression, now_ms: i64) -> Result<AddedRule, StoreError> {
    let matching_alerts = preview(rec, rule, now_ms)?;
    let rule = rec.store().add_suppression(rule)?;
    Ok(AddedRule { rule, matching_alerts })
}
