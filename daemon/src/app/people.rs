//! People, tokens and sign-in: the use cases, each recording its audit entry.

use serde::Serialize;

use super::audit::{changed, entry, record};
use crate::audit::{AuditAction, person_subject};
use crate::people::{Person, Principal, Role, TokenInfo, password, throttle, validate_name};
use crate::store::{Store, StoreError};

/// How long a sign-in session lasts, ms (12 hours).
pub const SESSION_MS: i64 = 12 * 3_600_000;
/// Longest lifetime of a personal API token, days.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// Why a people use case failed.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// A field is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// No such person or token.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed (or the name is taken: [`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> PeopleError {
    PeopleError::Invalid { field, message: message.into() }
}

/// A password given, or a one-time one made up (returned to show once).
fn password_or_one_time(given: Option<String>) -> Result<(String, Option<String>), PeopleError> {
    match given {
        Some(p) => {
            password::validate(&p).map_err(|m| invalid("password", m))?;
            Ok((p, None))
        }
        None => {
            let p = password::one_time().map_err(|m| invalid("password", m))?;
            Ok((p.clone(), Some(p)))
        }
    }
}

fn hashed(p: &str) -> Result<String, PeopleError> {
    password::hash(p).map_err(|m| PeopleError::Store(StoreError::Io(m)))
}

/// Add a person; returns them and the one-time password when none was given.
///
/// # Errors
/// [`PeopleError::Invalid`] for a bad name or password; a taken name is [`StoreError::Conflict`].
pub fn add(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    role: Role,
    given: Option<String>,
    now_ms: i64,
) -> Result<(Person, Option<String>), PeopleError> {
    validate_name(name).map_err(|m| invalid("name", m))?;
    let (pw, shown) = password_or_one_time(given)?;
    let mut audit = changed(&who.name, AuditAction::PersonAdd, person_subject(name), now_ms);
    let person = store.add_person(name, role, Some(&hashed(&pw)?), now_ms, &mut audit)?;
    Ok((person, shown))
}

fn existing(store: &dyn Store, name: &str) -> Result<Person, PeopleError> {
    store.person(name)?.ok_or_else(|| PeopleError::NotFound(format!("person `{name}`")))
}

/// Disable or enable a person. Disabling stops their tokens and sessions at once.
///
/// # Errors
/// [`PeopleError::NotFound`].
pub fn set_disabled(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    disabled: bool,
    now_ms: i64,
) -> Result<Person, PeopleError> {
    let action = if disabled { AuditAction::PersonDisable } else { AuditAction::PersonEnable };
    let mut audit = changed(&who.name, action, person_subject(name), now_ms);
    if !store.set_disabled(name, disabled, now_ms, &mut audit)? {
        return Err(PeopleError::NotFound(format!("person `{name}`")));
    }
    existing(store, name)
}

/// Set a person's password (a one-time one when none is given, returned to
/// show once, with the person); their sessions end.
///
/// # Errors
/// [`PeopleError::NotFound`], [`PeopleError::Invalid`] for a bad password.
pub fn reset_password(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    given: Option<String>,
    now_ms: i64,
) -> Result<(Person, Option<String>), PeopleError> {
    existing(store, name)?;
    let (pw, shown) = password_or_one_time(given)?;
    let mut audit = changed(&who.name, AuditAction::PersonPassword, person_subject(name), now_ms);
    if !store.set_password(name, &hashed(&pw)?, now_ms, &mut audit)? {
        return Err(PeopleError::NotFound(format!("person `{name}`")));
    }
    Ok((existing(store, name)?, shown))
}

/// Change a person's role.
///
/// # Errors
/// [`PeopleError::NotFound`].
pub fn set_role(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    role: Role,
    now_ms: i64,
) -> Result<Person, PeopleError> {
    let mut audit = changed(&who.name, AuditAction::PersonRole, person_subject(name), now_ms);
    if !store.set_role(name, role, &mut audit)? {
        return Err(PeopleError::NotFound(format!("person `{name}`")));
    }
    existing(store, name)
}

/// A token made: the secret, shown once, and what is stored about it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// The bearer token; stored only as its SHA-256.
    pub token: String,
    /// What is stored.
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// Make a personal API token for `person`, valid `days` (forever when `None`).
///
/// # Errors
/// [`PeopleError::NotFound`], [`PeopleError::Invalid`] for a bad label or lifetime.
pub fn create_token(
    store: &dyn Store,
    who: &Principal,
    person: &str,
    label: &str,
    days: Option<u32>,
    now_ms: i64,
) -> Result<NewToken, PeopleError> {
    let label = label.trim();
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(invalid("label", "at most 100 characters, no control characters"));
    }
    if days.is_some_and(|d| d == 0 || d > MAX_TOKEN_DAYS) {
        return Err(invalid("expires_days", format!("1 to {MAX_TOKEN_DAYS} days")));
    }
    let p = existing(store, person)?;
    if p.disabled_ms.is_some() {
        return Err(invalid("user", format!("`{person}` is disabled")));
    }
    let (token, hash) = crate::auth::new_token().map_err(|m| PeopleError::Store(StoreError::Io(m)))?;
    let expires = days.map(|d| now_ms + i64::from(d) * 86_400_000);
    let mut audit = |b: Option<&TokenInfo>, a: Option<&TokenInfo>| {
        let id = a.or(b).map_or(0, |t| t.id);
        vec![entry(&who.name, AuditAction::TokenCreate, format!("token:{id}"), b, a, now_ms)]
    };
    let info = store.add_token(
        &crate::store::TokenGrant { person, kind: "api", label, hash: &hash, expires_ms: expires },
        now_ms,
        &mut audit,
    )?;
    Ok(NewToken { token, info })
}

/// Revoke a token or session.
///
/// # Errors
/// [`PeopleError::NotFound`] when there is no such live token.
pub fn revoke_token(store: &dyn Store, who: &Principal, id: i64, now_ms: i64) -> Result<(), PeopleError> {
    // Whose token it was, its label and kind: the record says what was revoked.
    let mut audit = changed(&who.name, AuditAction::TokenRevoke, format!("token:{id}"), now_ms);
    if !store.revoke_token(id, now_ms, &mut audit)? {
        return Err(PeopleError::NotFound(format!("live token {id}")));
    }
    Ok(())
}

/// Why a sign-in was refused. Unknown names, disabled people and wrong
/// passwords are one answer, so the refusal does not tell which.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong name or password.
    #[error("wrong name or password")]
    Invalid,
    /// Too many failures on this account lately; try again after this many ms.
    #[error("too many failed sign-ins to this account; try again in {}s", (.0 + 999) / 1000)]
    Throttled(i64),
    /// Too many failures from this address lately; try again after this many ms.
    #[error("too many failed sign-ins from this address; try again in {}s", (.0 + 999) / 1000)]
    SourceThrottled(i64),
    /// The daemon is shutting down.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session made by a sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Bearer token of the session; stored only as its SHA-256.
    pub token: String,
    /// Who signed in.
    pub person: String,
    /// Their role.
    pub role: Role,
    /// When the session ends (unix ms).
    pub expires_ms: i64,
}

/// Sign `name` in with `password`, making a session. Every attempt costs one
/// password check whatever the name (see [`password::verify`]), except on a
/// throttled account (see [`throttle`]), where none is made.
///
/// # Errors
/// [`LoginError`]; each failure and each throttling is in the audit log.
pub fn login(store: &dyn Store, name: &str, given: &str, now_ms: i64) -> Result<Session, LoginError> {
    // Names are stored trimmed (see `add`): sign in as they are stored.
    let name = name.trim();
    if name.contains('\0') {
        // No one is named so (see `validate_name`), and PostgreSQL cannot
        // look such a name up, nor audit it: refused as an unknown name,
        // after the same password check.
        let _ = password::verify(None, given);
        return Err(LoginError::Invalid);
    }
    let subject = person_subject(name);
    let recent = store.recent_audit(
        &subject,
        &[AuditAction::LoginFailed, AuditAction::LoginThrottled],
        now_ms - throttle::WINDOW_MS,
    )?;
    let person = store.person(name)?;
    // A password set by an admin since the failures starts the count again.
    let set_ms = person.as_ref().and_then(|p| p.password_set_ms).unwrap_or(i64::MIN);
    let failures: Vec<i64> =
        recent.iter().filter(|(a, t)| *a == AuditAction::LoginFailed && *t >= set_ms).map(|(_, t)| *t).collect();
    if let Err(wait_ms) = throttle::check(&failures, now_ms) {
        // One throttling record per run of failures, not one per refused attempt.
        let latest_failure = failures.iter().copied().max().unwrap_or(0);
        if !recent.iter().any(|(a, t)| *a == AuditAction::LoginThrottled && *t >= latest_failure) {
            let note = serde_json::json!({ "failures": failures.len(), "retry_after_ms": wait_ms });
            record(store, "anonymous", AuditAction::LoginThrottled, subject, None, Some(note), now_ms);
        }
        return Err(LoginError::Throttled(wait_ms));
    }
    let stored = store.password_hash(name)?;
    if !password::verify(stored.as_deref(), given) {
        // The throttle counts these records: a failure that cannot be
        // recorded is not answered "wrong", or guesses would go uncounted
        // while the database is unavailable.
        let failure = crate::audit::AuditEntry {
            at_ms: now_ms,
            actor: "anonymous".into(),
            action: AuditAction::LoginFailed,
            subject,
            before: None,
            after: None,
        };
        store.append_audit(&failure)?;
        return Err(LoginError::Invalid);
    }
    let person = person.ok_or(LoginError::Invalid)?;
    let (token, hash) = crate::auth::new_token().map_err(|m| LoginError::Store(StoreError::Io(m)))?;
    let expires_ms = now_ms + SESSION_MS;
    let mut audit = changed(name, AuditAction::LoginOk, subject, now_ms);
    store.add_token(
        &crate::store::TokenGrant {
            person: name,
            kind: "session",
            label: "sign-in",
            hash: &hash,
            expires_ms: Some(expires_ms),
        },
        now_ms,
        &mut audit,
    )?;
    Ok(Session { token, person: person.name, role: person.role, expires_ms })
}

/// End the session whose token hashes to `hash`, as `who` signs out.
///
/// # Errors
/// The store failed.
pub fn logout(
    store: &dyn Store,
    who: &Principal,
    hash: &crate::auth::TokenHash,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut audit = changed(&who.name, AuditAction::Logout, person_subject(&who.name), now_ms);
    store.revoke_token_hash(hash, now_ms, &mut audit)?;
    Ok(())
}
