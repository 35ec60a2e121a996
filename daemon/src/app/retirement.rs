//! Retirement use cases: each retired asset's checklist
//! ([`crate::retirement`]) judged on the register, reconciliation's memory,
//! the sweeps and the live alerts; a person's wipe attestation; the moment
//! retirement is verified, recorded and audited.

use std::collections::HashMap;

use super::audit::entry;
use crate::alerts::evidence::Evidence;
use crate::alerts::{AlertFilter, AlertKind};
use crate::audit::AuditAction;
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::reconcile::rules::lifecycle_change_ms;
use crate::register::Asset;
use crate::retirement::{Checklist, Facts, RetirementRecord, Wipe, checklist};
use crate::store::StoreError;

/// Why a retirement action was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// A field is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// No such asset, or it is not decommissioned or disposed.
    #[error("{0}")]
    NotRetired(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checklists of `assets` (retired ones) at `now_ms`; `change_ms`,
/// when given, is when their retirement starts instead of the kept one.
fn checklists(
    rec: &Reconciler,
    assets: &[Asset],
    now_ms: i64,
    change_ms: Option<i64>,
) -> Result<Vec<Checklist>, StoreError> {
    let store = rec.store();
    let tags: Vec<String> = assets.iter().map(|a| a.tag.clone()).collect();
    let states = store.asset_states(Some(&tags))?;
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let records: HashMap<String, RetirementRecord> =
        store.retirements()?.into_iter().map(|r| (r.tag.to_ascii_lowercase(), r)).collect();
    let filter =
        AlertFilter { kind: Some(AlertKind::RetiredCredentialInUse), limit: Some(u32::MAX), ..Default::default() };
    let mut served: HashMap<String, Vec<String>> = HashMap::new();
    for a in store.alerts(&filter)? {
        if a.absent_since_ms.is_some() {
            continue;
        }
        if let (Some(tag), Some(Evidence::RetiredCredentialInUse(e))) = (&a.tag, &a.evidence) {
            served.entry(tag.clone()).or_default().extend(e.credentials.iter().flat_map(|c| c.served_at.clone()));
        }
    }
    let filter =
        AlertFilter { kind: Some(AlertKind::RetiredStillEnrolled), limit: Some(u32::MAX), ..Default::default() };
    let mut listed: HashMap<String, Vec<String>> = HashMap::new();
    for a in store.alerts(&filter)? {
        if let (Some(tag), Some(Evidence::RetiredStillEnrolled(e))) = (&a.tag, &a.evidence) {
            let names = listed.entry(tag.clone()).or_default();
            names.extend(e.listed.iter().map(|l| l.source.source.clone()));
            names.dedup();
        }
    }
    // The loaded lists are read here too, not only through the alerts a full
    // reconcile raises: a disposal right after a load or a decommissioning
    // must not pass a step the next run would fail.
    let all_sources = rec.sources()?;
    let loaded: Vec<(&crate::sources::Source, crate::sources::matching::SourceIndex)> = all_sources
        .iter()
        .filter(|s| s.loaded_ms.is_some())
        .map(|s| (s, crate::sources::matching::SourceIndex::new(s.name(), &s.records, s.def.key)))
        .collect();
    let sources: Vec<String> = loaded
        .iter()
        .filter_map(|(s, _)| {
            s.loaded_ms.map(|l| format!("{} (loaded {})", s.name(), crate::reconcile::assets::fmt_ms(l)))
        })
        .collect();
    for a in assets {
        let mut keys = crate::sources::matching::DeviceKeys::of(a);
        keys.ips.extend(states.get(&a.tag).and_then(|s| s.last_ip.clone()));
        let names = listed.entry(a.tag.clone()).or_default();
        for (s, index) in &loaded {
            if !names.iter().any(|n| n == s.name()) && !index.find(&keys).is_empty() {
                names.push(s.name().to_string());
            }
        }
    }
    let needed = rec.settings().retirement_sweeps;
    Ok(assets
        .iter()
        .filter_map(|a| {
            let state = states.get(&a.tag);
            let record = records.get(&a.tag.to_ascii_lowercase());
            let change_ms =
                change_ms.or_else(|| record.and_then(|r| r.started_ms)).unwrap_or_else(|| lifecycle_change_ms(a));
            let since = state.and_then(|s| s.last_seen_ms).map_or(change_ms, |l| l.max(change_ms));
            let misses = match state.and_then(|s| s.last_ip.as_deref()).and_then(|ip| ip.parse().ok()) {
                Some(ip) => sweeps.misses_ip(&ip, since),
                None => sweeps.misses_asset(a, since),
            };
            checklist(&Facts {
                asset: a,
                state,
                sweeps: Some(misses),
                needed,
                credentials_served: served.get(&a.tag).cloned().unwrap_or_default(),
                record,
                change_ms,
                sources: sources.clone(),
                listed_by: listed.get(&a.tag).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

/// Every retired asset's checklist (the retirement report), by tag.
///
/// # Errors
/// The store's.
pub fn all(rec: &Reconciler, now_ms: i64) -> Result<Vec<Checklist>, StoreError> {
    checklists(rec, &rec.store().retired_assets()?, now_ms, None)
}

/// One asset's checklist.
///
/// # Errors
/// [`RetireError::NotRetired`] when there is no such asset or it is not
/// decommissioned or disposed; the store's.
pub fn one(rec: &Reconciler, tag: &str, now_ms: i64) -> Result<Checklist, RetireError> {
    let Some(a) = rec.store().asset(tag)? else {
        return Err(RetireError::NotRetired(format!("no asset `{tag}`")));
    };
    checklists(rec, std::slice::from_ref(&a), now_ms, None)?.pop().ok_or_else(|| {
        RetireError::NotRetired(format!("{} is {}: a checklist starts when it is decommissioned", a.tag, a.lifecycle))
    })
}

/// Record `who`'s attestation that asset `tag`'s data was wiped, with a
/// reference (the wipe certificate's id) and a note; returns the checklist.
///
/// # Errors
/// [`RetireError::Invalid`] naming the field; [`RetireError::NotRetired`];
/// the store's.
pub fn attest_wipe(
    rec: &Reconciler,
    who: &Principal,
    tag: &str,
    reference: &str,
    note: &str,
    now_ms: i64,
) -> Result<Checklist, RetireError> {
    let printable = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    let reference = reference.trim();
    if reference.is_empty() || !printable(reference, 200) {
        return Err(RetireError::Invalid { field: "reference", message: "must be 1-200 printable characters".into() });
    }
    let note = note.trim();
    if !printable(note, 1000) {
        return Err(RetireError::Invalid {
            field: "note",
            message: "must be at most 1000 printable characters".into(),
        });
    }
    let current = one(rec, tag, now_ms)?;
    let wipe = Wipe { reference: reference.into(), note: note.into(), by: who.name.clone(), at_ms: now_ms };
    rec.store().write_retirements(&mut |records| {
        let before = records.iter().find(|r| r.tag.eq_ignore_ascii_case(&current.tag));
        let mut after =
            before.cloned().unwrap_or_else(|| RetirementRecord { tag: current.tag.clone(), ..Default::default() });
        after.wipe = Some(wipe.clone());
        let subject = format!("asset:{}", current.tag);
        let audit = entry(&who.name, AuditAction::RetirementWipe, subject, before, Some(&after), now_ms);
        Some((vec![after], vec![audit]))
    })?;
    tracing::info!(tag = current.tag, reference, actor = who.name, "data wipe attested");
    Ok(record_verified(rec, one(rec, tag, now_ms)?, now_ms)?)
}

/// When `c` is verified and that was not recorded yet: record when, with an
/// audit entry carrying the checklist. Returns the checklist as kept.
///
/// # Errors
/// The store's.
pub fn record_verified(rec: &Reconciler, mut c: Checklist, now_ms: i64) -> Result<Checklist, StoreError> {
    if !c.verified || c.verified_ms.is_some() {
        return Ok(c);
    }
    let snapshot = c.clone();
    rec.store().write_retirements(&mut |records| {
        let before = records.iter().find(|r| r.tag.eq_ignore_ascii_case(&snapshot.tag));
        if before.is_some_and(|b| b.verified_ms.is_some()) {
            return None;
        }
        let mut after =
            before.cloned().unwrap_or_else(|| RetirementRecord { tag: snapshot.tag.clone(), ..Default::default() });
        after.verified_ms = Some(now_ms);
        let subject = format!("asset:{}", snapshot.tag);
        let audit = entry("census", AuditAction::RetirementVerified, subject, None, Some(&snapshot), now_ms);
        Some((vec![after], vec![audit]))
    })?;
    tracing::info!(tag = c.tag, "retirement verified");
    c.verified_ms = Some(now_ms);
    Ok(c)
}

/// After a full reconcile: start the checklist of every newly
/// decommissioned asset (its record keeps when, through the disposal), and
/// record every retirement that became verified. Returns how many were
/// verified now.
///
/// # Errors
/// The store's.
pub fn track(rec: &Reconciler, now_ms: i64) -> Result<usize, StoreError> {
    let retired = rec.store().retired_assets()?;
    let starts: HashMap<String, i64> = retired
        .iter()
        .filter(|a| a.lifecycle == crate::register::Lifecycle::Decommissioned)
        .map(|a| {
            let change = lifecycle_change_ms(a);
            (a.tag.clone(), if change == i64::MIN { now_ms } else { change })
        })
        .collect();
    if !starts.is_empty() {
        rec.store().write_retirements(&mut |records| {
            let write: Vec<RetirementRecord> = starts
                .iter()
                .filter_map(|(tag, start)| {
                    let before = records.iter().find(|r| r.tag.eq_ignore_ascii_case(tag));
                    // Started, unless decommissioned again since (back in service meanwhile).
                    if before.and_then(|b| b.started_ms).is_some_and(|s| s >= *start) {
                        return None;
                    }
                    let mut after =
                        before.cloned().unwrap_or_else(|| RetirementRecord { tag: tag.clone(), ..Default::default() });
                    after.started_ms = Some(*start);
                    Some(after)
                })
                .collect();
            (!write.is_empty()).then_some((write, Vec::new()))
        })?;
        rec.retirements_changed();
    }
    let mut n = 0;
    for c in checklists(rec, &retired, now_ms, None)? {
        if c.verified && c.verified_ms.is_none() {
            record_verified(rec, c, now_ms)?;
            n += 1;
        }
    }
    Ok(n)
}

/// What disposing asset `before` (as stored) as `after` needs: `Ok(None)`
/// when it is not a move to disposed or every step before the disposal
/// passed; `Ok(Some(forced))` when steps are unmet and `reason` is given
/// (kept with who and when); refused otherwise, naming the unmet steps.
///
/// # Errors
/// [`StoreError::Refused`] with the unmet steps; the store's.
pub fn check_disposal(
    rec: &Reconciler,
    before: &Asset,
    after: &Asset,
    reason: Option<&str>,
    who: &Principal,
    now_ms: i64,
) -> Result<Option<crate::retirement::Forced>, StoreError> {
    use crate::register::Lifecycle;
    if after.lifecycle != Lifecycle::Disposed || before.lifecycle == Lifecycle::Disposed {
        return Ok(None);
    }
    // An asset disposed straight from service is judged as if decommissioned
    // now: nothing it did before counts for its checklist.
    let mut judged = before.clone();
    let mut change_ms = None;
    if !judged.lifecycle.retired() {
        judged.lifecycle = Lifecycle::Decommissioned;
        change_ms = Some(now_ms);
    }
    let Some(c) = checklists(rec, std::slice::from_ref(&judged), now_ms, change_ms)?.pop() else { return Ok(None) };
    let unmet = crate::retirement::unmet_before_disposal(&c);
    if unmet.is_empty() {
        return Ok(None);
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.chars().count() <= 500 && !r.chars().any(char::is_control) => {
            Ok(Some(crate::retirement::Forced { by: who.name.clone(), at_ms: now_ms, reason: r.into(), unmet }))
        }
        Some(_) => Err(StoreError::Refused("the reason must be at most 500 printable characters".into())),
        None => Err(StoreError::Refused(format!(
            "{} cannot be disposed yet: its retirement checklist has unmet steps — {}. Dispose it anyway only with a \
             reason (censusd retirement dispose {} --force --reason …; in the console, the note), kept in the audit log",
            before.tag,
            unmet.join("; "),
            before.tag
        ))),
    }
}

/// Keep a forced disposal in the asset's retirement record, with an audit entry.
///
/// # Errors
/// The store's.
pub fn record_forced(rec: &Reconciler, tag: &str, forced: &crate::retirement::Forced) -> Result<(), StoreError> {
    rec.store().write_retirements(&mut |records| {
        let before = records.iter().find(|r| r.tag.eq_ignore_ascii_case(tag));
        let mut after =
            before.cloned().unwrap_or_else(|| RetirementRecord { tag: tag.to_string(), ..Default::default() });
        after.forced = Some(forced.clone());
        let audit = entry(
            &forced.by,
            AuditAction::RetirementForced,
            format!("asset:{tag}"),
            before,
            Some(&after),
            forced.at_ms,
        );
        Some((vec![after], vec![audit]))
    })?;
    tracing::warn!(
        tag,
        actor = forced.by,
        reason = forced.reason,
        unmet = forced.unmet.len(),
        "disposal forced past unmet retirement steps"
    );
    Ok(())
}

/// Dispose asset `tag` as `who`: refused while steps are unmet unless a
/// `reason` is given (then kept and audited). Returns the checklist.
///
/// # Errors
/// [`RetireError::NotRetired`] when there is no such asset;
/// [`StoreError::Refused`] naming the unmet steps; the store's.
pub fn dispose(
    rec: &Reconciler,
    who: &Principal,
    tag: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Checklist, RetireError> {
    let Some(mut asset) = rec.store().asset(tag)? else {
        return Err(RetireError::NotRetired(format!("no asset `{tag}`")));
    };
    asset.lifecycle = crate::register::Lifecycle::Disposed;
    asset.lifecycle_since = Some(crate::reconcile::rules::day_of(now_ms));
    super::register::update_disposing(rec, who, &asset, reason, now_ms)?;
    // Verified now, when it is, so what this answers is what the audit log keeps.
    Ok(record_verified(rec, one(rec, tag, now_ms)?, now_ms)?)
}

/// When a retirement that began on `since` (the register's
/// `lifecycle_since`) starts, seen at `now_ms`: the moment of the change
/// when it is dated today or not at all, else the start of that day (a
/// person backdating it).
fn start_ms(since: Option<crate::register::Day>, now_ms: i64) -> i64 {
    match since {
        Some(d) if d < crate::reconcile::rules::day_of(now_ms) => crate::reconcile::rules::day_start_ms(d),
        _ => now_ms,
    }
}

/// What a lifecycle change does to a retirement record.
enum Move {
    /// A new retirement: a fresh record.
    Start(Box<RetirementRecord>),
    /// `lifecycle_since` corrected: start again from (unix ms), keep the rest.
    Restart(i64),
    /// Disposed at (unix ms), or no longer (`None`).
    Disposed(Option<i64>),
}

/// Keep retirement records in step with lifecycle changes the register
/// made (each `(before, after)`; `before` is `None` for a new asset), at `now_ms`:
///
/// | change | record |
/// |---|---|
/// | into decommissioned or disposed (new, or from service) | a new checklist starts at the change ([`start_ms`]); nothing of an earlier retirement (its wipe, verification, forced disposal) carries over |
/// | the retired stage's `lifecycle_since` corrected | the checklist starts again from the corrected day; the wipe stays |
/// | decommissioned to disposed | the disposal is dated; the sweep count goes on |
/// | back into service | the record is emptied |
///
/// The earlier records stay in the audit log (the wipe's and the
/// disposal's own entries).
///
/// # Errors
/// The store's.
pub fn anchor(rec: &Reconciler, changes: &[(Option<Asset>, Asset)], now_ms: i64) -> Result<(), StoreError> {
    use crate::register::Lifecycle::Disposed;
    let moves: Vec<(String, Move)> = changes
        .iter()
        .filter_map(|(before, after)| {
            let was = before.as_ref().filter(|b| b.lifecycle.retired());
            let at = start_ms(after.lifecycle_since, now_ms);
            let mv = match (was, after.lifecycle.retired()) {
                (None, true) => Move::Start(Box::new(RetirementRecord {
                    tag: after.tag.clone(),
                    started_ms: Some(at),
                    disposed_ms: (after.lifecycle == Disposed).then_some(at),
                    ..Default::default()
                })),
                (Some(b), true) if b.lifecycle == after.lifecycle && b.lifecycle_since != after.lifecycle_since => {
                    Move::Restart(at)
                }
                (Some(b), true) if b.lifecycle != after.lifecycle => {
                    Move::Disposed((after.lifecycle == Disposed).then_some(now_ms))
                }
                (Some(_), false) => {
                    Move::Start(Box::new(RetirementRecord { tag: after.tag.clone(), ..Default::default() }))
                }
                _ => return None,
            };
            Some((after.tag.clone(), mv))
        })
        .collect();
    if moves.is_empty() {
        return Ok(());
    }
    rec.store().write_retirements(&mut |records| {
        let write: Vec<RetirementRecord> = moves
            .iter()
            .map(|(tag, mv)| {
                let mut r = records
                    .iter()
                    .find(|r| r.tag.eq_ignore_ascii_case(tag))
                    .cloned()
                    .unwrap_or_else(|| RetirementRecord { tag: tag.clone(), ..Default::default() });
                match mv {
                    Move::Start(fresh) => r = (**fresh).clone(),
                    Move::Restart(at) => {
                        r.started_ms = Some(*at);
                        r.verified_ms = None;
                    }
                    Move::Disposed(at) => r.disposed_ms = *at,
                }
                r
            })
            .collect();
        Some((write, Vec::new()))
    })?;
    rec.retirements_changed();
    Ok(())
}

/// An asset entering the register already disposed skipped its checklist:
/// recorded as a forced disposal by `who` (with the steps it skipped),
/// audited as `retirement.forced`, so the retirement report never shows it
/// as properly retired.
///
/// # Errors
/// The store's.
pub fn entered_disposed(rec: &Reconciler, who: &Principal, asset: &Asset, now_ms: i64) -> Result<(), StoreError> {
    if asset.lifecycle != crate::register::Lifecycle::Disposed {
        return Ok(());
    }
    let mut judged = asset.clone();
    judged.lifecycle = crate::register::Lifecycle::Decommissioned;
    let unmet = checklists(rec, std::slice::from_ref(&judged), now_ms, Some(now_ms))?
        .pop()
        .map(|c| crate::retirement::unmet_before_disposal(&c))
        .unwrap_or_default();
    let forced = crate::retirement::Forced {
        by: who.name.clone(),
        at_ms: now_ms,
        reason: "entered the register already disposed: no retirement checklist was run".into(),
        unmet,
    };
    record_forced(rec, &asset.tag, &forced)
}
