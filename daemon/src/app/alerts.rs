//! A person acts on an alert.

use crate::alerts::lifecycle::act as decide;
use crate::alerts::{Alert, AlertAction};
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
