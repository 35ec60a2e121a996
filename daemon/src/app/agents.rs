//! Agents: add, rotate, revoke — each recorded in the audit log.

use ipnet::IpNet;

use super::audit::{json, record};
use crate::audit::AuditAction;
use crate::auth::TokenHash;
use crate::people::Principal;
use crate::store::{Store, StoreError};

/// Register an agent with its token hash and segments.
///
/// # Errors
/// [`StoreError::Conflict`] when the name is taken.
pub fn add(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    segments: &[IpNet],
    token: &TokenHash,
    now_ms: i64,
) -> Result<(), StoreError> {
    store.add_agent(name, segments, token)?;
    let after = serde_json::json!({ "name": name, "segments": segments });
    record(store, &who.name, AuditAction::AgentAdd, format!("agent:{name}"), None, Some(after), now_ms);
    Ok(())
}

/// Give an agent a new token, the old one valid until `old_valid_until_ms`; false when no such agent.
///
/// # Errors
/// The store failed.
pub fn rotate(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    token: &TokenHash,
    old_valid_until_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = store.rotate_agent(name, token, old_valid_until_ms)?;
    if done {
        let after = serde_json::json!({ "old_token_valid_until_ms": old_valid_until_ms });
        record(store, &who.name, AuditAction::AgentRotate, format!("agent:{name}"), None, Some(after), now_ms);
    }
    Ok(done)
}

/// Revoke an agent's token; false when no such active agent.
///
/// # Errors
/// The store failed.
pub fn revoke(store: &dyn Store, who: &Principal, name: &str, now_ms: i64) -> Result<bool, StoreError> {
    let before = store.agents()?.into_iter().find(|a| a.name == name);
    let done = store.revoke_agent(name)?;
    if done {
        record(
            store,
            &who.name,
            AuditAction::AgentRevoke,
            format!("agent:{name}"),
            before.as_ref().and_then(json),
            None,
            now_ms,
        );
    }
    Ok(done)
}
