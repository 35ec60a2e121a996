//! A person acts on an alert.

use serde::Serialize;

use super::audit::{entry, record};
use crate::alerts::lifecycle::act as decide;
use crate::alerts::suppress::SuppressionInput;
use crate::alerts::{Alert, AlertAction, AlertFilter, Suppression};
use crate::audit::AuditAction;
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::store::StoreError;

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
    let note = clean_note(note);
    let (mut decide, mut audit) = (
        person_decide(rec, action, who, note.as_deref(), now_ms),
        person_audit(id, action, who, note.as_deref(), now_ms),
    );
    let out = rec.store().alert_action(id, &mut decide, &mut audit)?;
    rec.wake_notifier();
    Ok(out)
}

/// A note is for people: control characters (a terminal's escapes) dropped, 500 characters at most.
fn clean_note(note: Option<&str>) -> Option<String> {
    note.map(|n| n.chars().filter(|c| !c.is_control()).take(500).collect()).filter(|n: &String| !n.is_empty())
}

/// The store's `decide` for `who` doing `action` (notification sinks by severity).
fn person_decide<'a>(
    rec: &Reconciler,
    action: AlertAction,
    who: &'a Principal,
    note: Option<&'a str>,
    now_ms: i64,
) -> impl FnMut(Alert) -> Result<crate::alerts::lifecycle::Change, crate::alerts::lifecycle::Refused> + 'a {
    let routes = rec.routes().to_vec();
    move |a: Alert| {
        let mut c = decide(a, action, &who.name, note, now_ms)?;
        if c.notify {
            c.sinks = crate::alerts::notify::targets(&routes, c.alert.severity);
        }
        Ok(c)
    }
}

/// The audit record of `who` doing `action` to alert `id`: what a person
/// sees change (state, who holds it, the note); none when nothing did.
fn person_audit<'a>(
    id: i64,
    action: AlertAction,
    who: &'a Principal,
    note: Option<&'a str>,
    now_ms: i64,
) -> impl FnMut(Option<&Alert>, Option<&Alert>) -> Vec<crate::audit::AuditEntry> + 'a {
    let kind = match action {
        AlertAction::Acknowledge => AuditAction::AlertAcknowledge,
        AlertAction::Resolve => AuditAction::AlertResolve,
    };
    let brief = |a: &Alert| serde_json::json!({ "state": a.state, "acked_by": a.acked_by, "resolved_by": a.resolved_by, "resolution": a.resolution });
    move |b: Option<&Alert>, a: Option<&Alert>| {
        let (before, mut after) = (b.map(brief), a.map(brief));
        if before == after {
            return Vec::new(); // acknowledged already: nothing changed, nothing to record
        }
        if let Some(v) = after.as_mut() {
            v["note"] = serde_json::json!(note);
        }
        vec![entry(&who.name, kind, format!("alert:{id}"), before.as_ref(), after.as_ref(), now_ms)]
    }
}

/// Create (`create`) or replace `asset` as `who` and resolve alert `id`
/// with `note`, in one transaction (see
/// [`crate::store::AlertStore::asset_with_alert_action`]): adopting or
/// linking a device, disposing an asset. An alert resolved meanwhile is
/// left as it is; the asset change is made.
///
/// # Errors
/// The register change's ([`StoreError::Conflict`], [`StoreError::NotFound`]); the store failed.
pub fn resolve_with_asset(
    rec: &Reconciler,
    who: &Principal,
    (asset, create): (&crate::register::Asset, bool),
    id: i64,
    note: &str,
    now_ms: i64,
) -> Result<crate::register::Asset, StoreError> {
    let note = clean_note(Some(note));
    let resolve = AlertAction::Resolve;
    let (mut decide, mut audit) = (
        person_decide(rec, resolve, who, note.as_deref(), now_ms),
        person_audit(id, resolve, who, note.as_deref(), now_ms),
    );
    let action = if create { AuditAction::AssetCreate } else { AuditAction::AssetUpdate };
    let mut asset_audit = |b: Option<&crate::register::Asset>, a: Option<&crate::register::Asset>| {
        super::register::asset_entry(&who.name, action, b, a, now_ms)
    };
    let before = if create { None } else { rec.store().asset(&asset.tag)? };
    let change = crate::store::RegisterChange { asset, create, actor: &who.name, audit: &mut asset_audit };
    let (stored, _) = rec.store().asset_with_alert_action(change, id, &mut decide, &mut audit)?;
    super::retirement::anchor(rec, &[(before, stored.clone())], now_ms)?;
    if create {
        super::retirement::entered_disposed(rec, who, &stored, now_ms)?;
    }
    rec.register_edited();
    rec.wake_notifier();
    Ok(stored)
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
    preview_all(rec, std::slice::from_ref(rule), now_ms)
}

/// Live alerts any of `rules` would hold at `now_ms` (each counted once).
///
/// # Errors
/// The store failed.
pub fn preview_all(rec: &Reconciler, rules: &[Suppression], now_ms: i64) -> Result<usize, StoreError> {
    let live = rec.store().alerts(&AlertFilter { limit: Some(u32::MAX), ..Default::default() })?;
    Ok(live.iter().filter(|a| rules.iter().any(|r| r.matches_alert(a, now_ms))).count())
}

/// Set the asset `tag` disposed as `who` and resolve its should-be-retired
/// alert `id`, in one transaction (see [`resolve_with_asset`]); past unmet
/// retirement steps only with a `reason`
/// ([`super::retirement::check_disposal`]).
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such asset; [`StoreError::Refused`]
/// naming the unmet steps; the store failed.
pub fn dispose_resolving(
    rec: &Reconciler,
    who: &Principal,
    tag: &str,
    id: i64,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<crate::register::Asset, StoreError> {
    let Some(before) = rec.store().asset(tag)? else {
        return Err(StoreError::NotFound(format!("asset `{tag}`")));
    };
    let mut asset = before.clone();
    asset.lifecycle = crate::register::Lifecycle::Disposed;
    asset.lifecycle_since = None;
    let forced = super::retirement::check_disposal(rec, &before, &asset, reason, who, now_ms)?;
    let note = match &forced {
        Some(f) => format!("asset marked disposed past unmet retirement steps: {}", f.reason),
        None => "asset marked disposed".to_string(),
    };
    let stored = resolve_with_asset(rec, who, (&asset, false), id, &note, now_ms)?;
    if let Some(f) = &forced {
        super::retirement::record_forced(rec, &stored.tag, f)?;
    }
    Ok(stored)
}

/// How many live alerts `rule` matches now, and the ids of those it
/// would newly hold (not held by another rule already).
fn held(rec: &Reconciler, rule: &Suppression, now_ms: i64) -> Result<(usize, Vec<i64>), StoreError> {
    let live = rec.store().alerts(&AlertFilter { limit: Some(u32::MAX), ..Default::default() })?;
    let matching: Vec<&Alert> = live.iter().filter(|a| rule.matches_alert(a, now_ms)).collect();
    let new = matching.iter().filter(|a| a.state != crate::alerts::AlertState::Suppressed).map(|a| a.id).collect();
    Ok((matching.len(), new))
}

/// Why a suppression rule was not stored.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A field of the rule is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: String,
        /// Why.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Check and store a suppression rule as `who`, say how many live alerts it
/// matches, and ask for a full reconcile so they are held at once.
///
/// # Errors
/// [`RuleError::Invalid`] naming the field at fault; the store failed.
pub fn add_suppression(
    rec: &Reconciler,
    who: &Principal,
    input: SuppressionInput,
    now_ms: i64,
) -> Result<AddedRule, RuleError> {
    let rule = input.validate(&who.name, now_ms).map_err(|(field, message)| RuleError::Invalid { field, message })?;
    let (matching_alerts, ids) = held(rec, &rule, now_ms)?;
    let mut audit = |b: Option<&Suppression>, a: Option<&Suppression>| {
        let id = a.or(b).map_or(0, |r| r.id);
        vec![entry(&who.name, AuditAction::SuppressionAdd, format!("suppression:{id}"), b, a, now_ms)]
    };
    let rule = rec.store().add_suppression(&rule, &mut audit)?;
    // Held at once, each with its event and audit record under the person:
    // a full reconcile holds what it finds again, but an alert it no longer
    // finds (an identity conflict a later sweep did not see stays open for
    // a person) would stay open although this answer counts it (review of
    // 2026-12-08).
    let live = [rule.clone()];
    for id in ids {
        restate(rec, who, id, &live, now_ms)?;
    }
    rec.request_full();
    Ok(AddedRule { rule, matching_alerts })
}

/// Hold or release alert `id` as the live `rules` say now, as `who`: held
/// by the first rule that matches it, open again when none does — with its
/// event (`suppressed`, or `opened`, notified) and an audit record. An
/// alert resolved or changed meanwhile is left to the next reconcile.
///
/// # Errors
/// The store failed.
fn restate(rec: &Reconciler, who: &Principal, id: i64, rules: &[Suppression], now_ms: i64) -> Result<(), StoreError> {
    use crate::alerts::AlertState;
    use crate::alerts::lifecycle::{Change, Refused};
    let routes = rec.routes().to_vec();
    let mut decide = |mut a: Alert| -> Result<Change, Refused> {
        let rule = rules.iter().find(|r| r.matches_alert(&a, now_ms)).map(|r| r.id);
        let (event, notify, note) = match (a.state, rule) {
            (AlertState::Resolved, _) => return Err(Refused(format!("alert {id} is resolved"))),
            (AlertState::Open | AlertState::Acknowledged, Some(r)) => {
                a.state = AlertState::Suppressed;
                (crate::alerts::EventKind::Suppressed, false, format!("held by suppression rule {r}"))
            }
            (AlertState::Suppressed, None) => {
                a.state = AlertState::Open;
                (crate::alerts::EventKind::Opened, true, "no suppression rule holds it any more".to_string())
            }
            _ if a.suppressed_by == rule => return Err(Refused(format!("alert {id} is as the rules say"))),
            (_, _) => {
                a.suppressed_by = rule;
                return Ok(Change { actor: who.name.clone(), ..Change::census(a, None, false, None) });
            }
        };
        a.suppressed_by = rule;
        let mut c = Change { actor: who.name.clone(), ..Change::census(a, Some(event), notify, Some(note)) };
        if notify {
            c.sinks = crate::alerts::notify::targets(&routes, c.alert.severity);
        }
        Ok(c)
    };
    let mut audit = |b: Option<&Alert>, a: Option<&Alert>| {
        let brief = |x: &Alert| serde_json::json!({ "state": x.state, "suppressed_by": x.suppressed_by });
        vec![entry(
            &who.name,
            AuditAction::AlertSuppress,
            format!("alert:{id}"),
            b.map(brief).as_ref(),
            a.map(brief).as_ref(),
            now_ms,
        )]
    };
    match rec.store().alert_action(id, &mut decide, &mut audit) {
        Ok(_) | Err(StoreError::Refused(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove a suppression rule as `who` and ask for a full reconcile (what it
/// held comes back); false when there is none.
///
/// # Errors
/// The store failed.
pub fn remove_suppression(rec: &Reconciler, who: &Principal, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    let mut audit = |b: Option<&Suppression>, a: Option<&Suppression>| {
        vec![entry(&who.name, AuditAction::SuppressionRemove, format!("suppression:{id}"), b, a, now_ms)]
    };
    let held: Vec<i64> = rec
        .store()
        .alerts(&AlertFilter { limit: Some(u32::MAX), ..Default::default() })?
        .into_iter()
        .filter(|a| a.suppressed_by == Some(id))
        .map(|a| a.id)
        .collect();
    let removed = rec.store().remove_suppression(id, &mut audit)?;
    if removed {
        // What it held is released at once (held by another rule, or open
        // again), found again by a reconcile or not.
        let rules = rec.store().suppressions(true)?;
        for alert in held {
            restate(rec, who, alert, &rules, now_ms)?;
        }
        rec.request_full();
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
