//! Recording the audit log from the use cases.
//!
//! A record is appended after the change it describes has been stored: a
//! failure to append is logged at error level and does not undo the change
//! (the asset and alert histories, written in the change's own transaction,
//! still name the person).

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

/// A value as audit JSON (`None` if it cannot be serialised).
pub fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
