//! Recording the audit log from the use cases.
//!
//! Every change writes its records in the change's own transaction
//! ([`crate::store::AuditOf`], built
//! here by [`entry`] and [`changed`]): the change and its record commit
//! together, and a subject's records come in the order of its changes — for
//! assets, imports, alerts, suppressions, agents, people, tokens and sessions
//! alike. Only records of what changed nothing (a failed or throttled
//! sign-in, a reconcile asked for) are appended alone with [`record`]; a
//! failure to append those is logged at error level.

use crate::audit::{AuditAction, AuditEntry};
use crate::store::Store;

/// Append one record: `who` did `action` to `subject`.
pub fn record(
    store: &dyn Store,
    who: &str,
    action: AuditAction,
    subject: impl Into<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now_ms: i64,
) {
    let entry = AuditEntry { at_ms: now_ms, actor: who.to_string(), action, subject: subject.into(), before, after };
    if let Err(e) = store.append_audit(&entry) {
        tracing::error!(actor = %entry.actor, action = entry.action.as_str(), subject = %entry.subject, error = %e,
            "the audit record could not be written");
    }
}

/// One record: `who` did `action` to `subject`, from `before` to `after` (each serialised).
pub fn entry<T: serde::Serialize>(
    who: &str,
    action: AuditAction,
    subject: impl Into<String>,
    before: Option<&T>,
    after: Option<&T>,
    now_ms: i64,
) -> AuditEntry {
    AuditEntry {
        at_ms: now_ms,
        actor: who.to_string(),
        action,
        subject: subject.into(),
        before: before.and_then(json),
        after: after.and_then(json),
    }
}

/// An audit callback ([`crate::store::AuditOf`]) recording `who` did `action`
/// to `subject` — nothing when the change left the subject as it was.
pub fn changed<T: serde::Serialize + PartialEq>(
    who: &str,
    action: AuditAction,
    subject: impl Into<String>,
    now_ms: i64,
) -> impl FnMut(Option<&T>, Option<&T>) -> Vec<AuditEntry> {
    let (who, subject) = (who.to_string(), subject.into());
    move |before, after| {
        if before == after {
            return Vec::new();
        }
        vec![entry(&who, action, subject.clone(), before, after, now_ms)]
    }
}

/// A value as audit JSON (`None` if it cannot be serialised).
pub fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
