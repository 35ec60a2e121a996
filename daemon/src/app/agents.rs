//! Agents: add, rotate, revoke — each checked here and recorded in the audit log.

use std::time::Duration;

use ipnet::IpNet;

use super::audit::{changed, json};
use crate::audit::{AuditAction, AuditEntry};
use crate::auth::TokenHash;
use crate::people::Principal;
use crate::store::{AgentRecord, Store, StoreError};

/// Longest overlap of an old agent token with its replacement.
pub const MAX_OVERLAP: Duration = Duration::from_secs(30 * 86_400);

/// Why an agent use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A field is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field (`name`, `segments[1]`, `overlap`).
        field: String,
        /// Why.
        message: String,
    },
    /// No such agent.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed (or the name is taken: [`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AgentError {
    AgentError::Invalid { field: field.into(), message: message.into() }
}

/// A new agent's name and segments, checked: the name an identifier, each
/// segment a CIDR (host bits dropped: `198.18.0.7/24` is `198.18.0.0/24`), at least one.
///
/// # Errors
/// [`AgentError::Invalid`] naming the field (`segments[2]`).
pub fn checked(name: &str, segments: &[String]) -> Result<(String, Vec<IpNet>), AgentError> {
    let name = name.trim().to_string();
    if let Some(problem) = crate::register::ident::ident_problem("agent name", &name, "") {
        return Err(invalid("name", problem));
    }
    if segments.is_empty() {
        return Err(invalid("segments", "at least one CIDR is needed"));
    }
    let nets = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            crate::net::parse_net(s, false)
                .ok_or_else(|| invalid(format!("segments[{i}]"), format!("`{}` is not a CIDR", s.escape_debug())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, nets))
}

/// Register an agent as `who`; returns its name (trimmed) and its token, to show once.
///
/// # Errors
/// [`AgentError::Invalid`] for a bad name or segment; [`StoreError::Conflict`] when the name is taken.
pub fn add(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    segments: &[String],
    now_ms: i64,
) -> Result<(String, String), AgentError> {
    let (name, segments) = checked(name, segments)?;
    let (token, hash) = crate::auth::new_token().map_err(|e| AgentError::Store(StoreError::Io(e)))?;
    let mut audit = changed(&who.name, AuditAction::AgentAdd, format!("agent:{name}"), now_ms);
    store.add_agent(&name, &segments, &hash, &mut audit)?;
    tracing::info!(agent = %name, actor = %who.name, "agent added");
    Ok((name, token))
}

/// Give agent `name` a new token as `who`, the old one still valid for
/// `overlap` (e.g. `1h`; none by default, at most [`MAX_OVERLAP`]); returns the new token.
///
/// # Errors
/// [`AgentError::Invalid`] for a bad overlap; [`AgentError::NotFound`]; the store failed.
pub fn rotate_token(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    overlap: Option<&str>,
    now_ms: i64,
) -> Result<String, AgentError> {
    let overlap = match overlap {
        None => Duration::ZERO,
        Some(o) => census_proto::config::parse_duration(std::path::Path::new("request"), "overlap", o)
            .map_err(|e| invalid("overlap", e.message))?,
    };
    if overlap > MAX_OVERLAP {
        return Err(invalid("overlap", "at most 30 days"));
    }
    let (token, hash) = crate::auth::new_token().map_err(|e| AgentError::Store(StoreError::Io(e)))?;
    let until = now_ms + overlap.as_millis() as i64;
    if !rotate(store, who, name, &hash, until, now_ms)? {
        return Err(AgentError::NotFound(format!("agent `{name}`")));
    }
    tracing::warn!(agent = %name, overlap_s = overlap.as_secs(), actor = %who.name, "agent token rotated");
    Ok(token)
}

/// Give an agent a new token, the old one valid until `old_valid_until_ms`; false when no such agent.
///
/// # Errors
/// The store failed.
fn rotate(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    token: &TokenHash,
    old_valid_until_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    // The agent's record does not show its token: the rotation's record says until when the old one works.
    let mut audit = |b: Option<&AgentRecord>, a: Option<&AgentRecord>| {
        let mut after = a.and_then(json);
        if let Some(v) = after.as_mut() {
            v["old_token_valid_until_ms"] = serde_json::json!(old_valid_until_ms);
        }
        vec![AuditEntry {
            at_ms: now_ms,
            actor: who.name.clone(),
            action: AuditAction::AgentRotate,
            subject: format!("agent:{name}"),
            before: b.and_then(json),
            after,
        }]
    };
    store.rotate_agent(name, token, old_valid_until_ms, &mut audit)
}

/// Revoke agent `name`'s token as `who`.
///
/// # Errors
/// [`AgentError::NotFound`] when there is no such active agent; the store failed.
pub fn revoke(store: &dyn Store, who: &Principal, name: &str, now_ms: i64) -> Result<(), AgentError> {
    let mut audit = changed(&who.name, AuditAction::AgentRevoke, format!("agent:{name}"), now_ms);
    if !store.revoke_agent(name, &mut audit)? {
        return Err(AgentError::NotFound(format!("active agent `{name}`")));
    }
    tracing::warn!(agent = %name, actor = %who.name, "agent token revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Regression (review of 2026-12-08): an agent's segment given mapped
    /// into IPv6 is the IPv4 segment its hosts are stored under.
    #[test]
    fn a_mapped_segment_is_the_ipv4_segment() {
        let (_, nets) = super::checked("a1", &["::ffff:198.18.0.0/120".into(), "198.18.1.7/24".into()]).unwrap();
        assert_eq!(nets, ["198.18.0.0/24".parse().unwrap(), "198.18.1.0/24".parse::<ipnet::IpNet>().unwrap()]);
        assert!(super::checked("a1", &["198.18.0.1".into()]).is_err(), "an address alone is not a segment");
    }
}
