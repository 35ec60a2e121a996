//! A person acts on an alert.

use serde::Serialize;

use super::audit::{json, record};
use crate::alerts::lifecycle::act as decide;
use crate::alerts::{Alert, AlertAction, AlertFilter, Suppression};
use crate::audit::AuditAction;
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::store::{Store, StoreError};

/// Acknowledge or resolve alert `id` as `who`; `None` when there is no such alert.
///
/// # Errors
/// `StoreError::Refused` when the alert is already resolved; the store failed.
pub fn act(
    rec: &Reconciler,
    id: i64,
    action: AlertAction,
    who: &Principal,
    note: Option<&str>,
    now_ms: i64,
) -> Result<Option<Alert>, StoreError> {
    let routes = rec.routes().to_vec();
    let mut before = None;
    let out = rec.store().alert_action(id, &mut |a: Alert| {
        before = Some(serde_json::json!({ "state": a.state }));
        let mut c = decide(a, action, &who.name, note, now_ms)?;
        if c.notify {
            c.sinks = crate::alerts::notify::targets(&routes, c.alert.severity);
        }
        Ok(c)
    })?;
    rec.wake_notifier();
    if let Some(a) = &out {
        let kind = match action {
            AlertAction::Acknowledge => AuditAction::AlertAcknowledge,
            AlertAction::Resolve => AuditAction::AlertResolve,
        };
        let after = serde_json::json!({ "state": a.state, "note": note });
        record(rec.store().as_ref(), &who.name, kind, format!("alert:{id}"), before, Some(after), now_ms);
    }
    Ok(out)
}

/// A stored rule and how many live alerts it holds now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
pub fn add_suppression(
    rec: &Reconciler,
    who: &Principal,
    rule: &Suppression,
    now_ms: i64,
) -> Result<AddedRule, StoreError> {
    let matching_alerts = preview(rec, rule, now_ms)?;
    let rule = rec.store().add_suppression(rule)?;
    record(
        rec.store().as_ref(),
        &who.name,
        AuditAction::SuppressionAdd,
        format!("suppression:{}", rule.id),
        None,
        json(&rule),
        now_ms,
    );
    Ok(AddedRule { rule, matching_alerts })
}

/// Remove a suppression rule; false when there is none.
///
/// # Errors
/// The store failed.
pub fn remove_suppression(store: &dyn Store, who: &Principal, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    let before = store.suppressions(false)?.into_iter().find(|r| r.id == id);
    let removed = store.remove_suppression(id)?;
    if removed {
        record(
            store,
            &who.name,
            AuditAction::SuppressionRemove,
            format!("suppression:{id}"),
            before.as_ref().and_then(json),
            None,
            now_ms,
        );
    }
    Ok(removed)
}

/// Run a full reconcile now, asked for by `who`.
///
/// # Errors
/// The store failed.
pub fn reconcile_now(
    rec: &Reconciler,
    who: &Principal,
    now_ms: i64,
) -> Result<crate::reconcile::ReconcileSummary, StoreError> {
    record(rec.store().as_ref(), &who.name, AuditAction::ReconcileRequest, "reconcile", None, None, now_ms);
    rec.full(now_ms)
}
