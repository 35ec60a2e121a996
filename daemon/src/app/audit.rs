//! Recording the audit log from the use cases.
//!
//! Changes to assets, the register, alerts and suppression rules write their
//! records in the change's own transaction ([`crate::store::AuditOf`], built
//! here by [`entry`]): the change and its record commit together, and a
//! subject's records come in the order of its changes. The rest (agents,
//! people, tokens, sign-ins) append with [`record`] right after the change;
//! a failure to append is logged at error level.

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

/// A value as audit JSON (`None` if it cannot be serialised).
pub fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
