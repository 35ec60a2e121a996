//! Register use cases: create, update, delete, import (merge by default, dry
//! run) — each audited, and each change followed once by a rebuilt match
//! index and a full reconcile soon ([`Reconciler::register_edited`]).

use super::audit::entry;
use crate::audit::{AuditAction, AuditEntry};
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::register::Asset;
use crate::register::csv::{ImportError, parse_csv, parse_json};
use crate::register::patch::{ImportOptions, Merged, merge};
use crate::register::plan::ImportPlan;
use crate::store::StoreError;

/// The audit record of one asset's change by `who` (none when nothing changed).
pub(super) fn asset_entry(
    who: &str,
    action: AuditAction,
    before: Option<&Asset>,
    after: Option<&Asset>,
    now_ms: i64,
) -> Vec<AuditEntry> {
    if before == after {
        return Vec::new();
    }
    let tag = after.or(before).map(|a| a.tag.as_str()).unwrap_or_default();
    vec![entry(who, action, format!("asset:{tag}"), before, after, now_ms)]
}

/// Add an asset as `who`.
///
/// # Errors
/// [`StoreError::Conflict`] when the tag is taken.
pub fn create(rec: &Reconciler, who: &Principal, asset: &Asset, now_ms: i64) -> Result<Asset, StoreError> {
    let mut audit =
        |b: Option<&Asset>, a: Option<&Asset>| asset_entry(&who.name, AuditAction::AssetCreate, b, a, now_ms);
    let stored = rec.store().create_asset(asset, &who.name, &mut audit)?;
    super::retirement::anchor(rec, &[(None, stored.clone())], now_ms)?;
    super::retirement::entered_disposed(rec, who, &stored, now_ms)?;
    rec.register_edited();
    Ok(stored)
}

/// Replace an asset as `who`.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such asset.
pub fn update(rec: &Reconciler, who: &Principal, asset: &Asset, now_ms: i64) -> Result<Asset, StoreError> {
    update_disposing(rec, who, asset, None, now_ms)
}

/// [`update`], with the reason to dispose the asset past unmet retirement
/// steps (see [`super::retirement::check_disposal`]).
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such asset; [`StoreError::Refused`]
/// when it would be disposed with unmet steps and no reason.
pub fn update_disposing(
    rec: &Reconciler,
    who: &Principal,
    asset: &Asset,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Asset, StoreError> {
    let Some(before) = rec.store().asset(&asset.tag)? else {
        return Err(StoreError::NotFound(format!("asset `{}`", asset.tag)));
    };
    let forced = super::retirement::check_disposal(rec, &before, asset, reason, who, now_ms)?;
    let mut audit =
        |b: Option<&Asset>, a: Option<&Asset>| asset_entry(&who.name, AuditAction::AssetUpdate, b, a, now_ms);
    let stored = rec.store().update_asset(asset, &who.name, &mut audit)?;
    super::retirement::anchor(rec, &[(Some(before), stored.clone())], now_ms)?;
    if let Some(f) = &forced {
        super::retirement::record_forced(rec, &stored.tag, f)?;
    }
    rec.register_edited();
    Ok(stored)
}

/// Delete an asset as `who`; false when there was none.
///
/// # Errors
/// The store failed.
pub fn delete(rec: &Reconciler, who: &Principal, tag: &str, now_ms: i64) -> Result<bool, StoreError> {
    let mut audit =
        |b: Option<&Asset>, a: Option<&Asset>| asset_entry(&who.name, AuditAction::AssetDelete, b, a, now_ms);
    let deleted = rec.store().delete_asset(tag, &who.name, &mut audit)?;
    if deleted {
        rec.register_edited();
    }
    Ok(deleted)
}

pub use crate::register::csv::Format;

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file has problems; each names its row and column.
    #[error("{} problem(s) in the import; nothing was stored", .0.len())]
    Invalid(Vec<ImportError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One problem per row that would dispose an asset past unmet retirement steps.
pub(super) fn disposal_problems(
    rec: &Reconciler,
    current: &[Asset],
    merged: &[Asset],
    patches: &[crate::register::patch::Patch],
    who: &Principal,
) -> Result<Vec<ImportError>, StoreError> {
    let now_ms = crate::store::now_ms();
    let mut out = Vec::new();
    for after in merged.iter().filter(|a| a.lifecycle == crate::register::Lifecycle::Disposed) {
        let Some(before) = current.iter().find(|c| c.tag == after.tag) else { continue };
        match super::retirement::check_disposal(rec, before, after, None, who, now_ms) {
            Ok(_) => {}
            Err(StoreError::Refused(why)) => {
                let p = patches.iter().find(|p| p.tag.trim().eq_ignore_ascii_case(&after.tag));
                out.push(ImportError {
                    row: p.map_or(0, |p| p.row),
                    line: p.and_then(|p| p.line),
                    column: "lifecycle".into(),
                    message: why,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Import a register file as `who`; with `dry_run` only say what would happen.
///
/// # Errors
/// See [`ImportFailure`]: all-or-nothing.
pub fn import(
    rec: &Reconciler,
    bytes: &[u8],
    format: Format,
    opts: ImportOptions,
    dry_run: bool,
    who: &Principal,
) -> Result<ImportPlan, ImportFailure> {
    let store = rec.store().as_ref();
    let (patches, mut problems) = match format {
        Format::Csv(o) => parse_csv(bytes, o),
        Format::Json => parse_json(bytes),
    };
    // One pass names everything: the file's problems and the merge's.
    let with_file_problems = |r: Result<Merged, Vec<ImportError>>, problems: &mut Vec<ImportError>| match r {
        Ok(m) if problems.is_empty() => Ok(m),
        Ok(_) => Err(std::mem::take(problems)),
        Err(mut e) => {
            problems.append(&mut e);
            problems.sort_by_key(|e| e.row);
            Err(std::mem::take(problems))
        }
    };
    // Disposals past unmet retirement steps are refused here (a reason can
    // only be given one asset at a time: `censusd retirement dispose`).
    {
        let current = store.assets()?;
        if let Ok(m) = merge(&current, &patches, opts) {
            problems.extend(disposal_problems(rec, &current, &m.assets, &patches, who)?);
            problems.sort_by_key(|e| e.row);
        }
        if dry_run || !problems.is_empty() {
            return with_file_problems(merge(&current, &patches, opts), &mut problems)
                .map(|m| m.plan)
                .map_err(ImportFailure::Invalid);
        }
    }
    let summary = serde_json::json!({"rows": patches.len(), "replace": opts.replace, "clear_empty": opts.clear_empty});
    apply_import(rec, who, AuditAction::RegisterImport, summary, &mut |current| merge(current, &patches, opts))
}

/// What an import makes of the register as read in its transaction.
pub(super) type MergeBuild<'a> = &'a mut (dyn FnMut(&[Asset]) -> Result<Merged, Vec<ImportError>> + Send);

/// Store what `build` makes of the register as read inside the import's
/// transaction, as `who`: one audit record per asset added or changed and
/// one for the whole (`summary` with the counts added), the retirement
/// records of lifecycle moves, then a full reconcile soon.
///
/// # Errors
/// [`ImportFailure::Invalid`] with what `build` refused; the store's.
pub(super) fn apply_import(
    rec: &Reconciler,
    who: &Principal,
    action: AuditAction,
    summary: serde_json::Value,
    build: MergeBuild<'_>,
) -> Result<ImportPlan, ImportFailure> {
    let store = rec.store().as_ref();
    let actor = who.name.as_str();
    let mut outcome: Option<Result<Merged, Vec<ImportError>>> = None;
    let now_ms = crate::store::now_ms();
    // (added, changed, retired by this import)
    let counts = std::sync::Mutex::new((0usize, 0usize, 0usize));
    // Lifecycle moves, for the retirement records once the import is stored.
    let moves: std::sync::Mutex<Vec<(Option<Asset>, Asset)>> = Default::default();
    // (Mutexes, not cells: the store may run its transaction, and so these
    // callbacks, on a thread of its own.)
    let count = || *counts.lock().unwrap_or_else(|p| p.into_inner());
    // One record per asset the import adds or changes (with its before and
    // after), then one for the import as a whole — in the import's transaction.
    let mut audit = |b: Option<&Asset>, a: Option<&Asset>| match (b, a) {
        (None, None) => {
            let (added, changed, retired) = count();
            let mut summary = summary.clone();
            summary["added"] = added.into();
            summary["changed"] = changed.into();
            summary["retired"] = retired.into();
            vec![entry(actor, action, "register", None, Some(&summary), now_ms)]
        }
        (b, a) => {
            if let Some(a) = a
                && b.is_none_or(|b| (b.lifecycle, b.lifecycle_since) != (a.lifecycle, a.lifecycle_since))
            {
                moves.lock().unwrap_or_else(|p| p.into_inner()).push((b.cloned(), a.clone()));
            }
            let e = asset_entry(actor, action, b, a, now_ms);
            let (added, changed, retired) = count();
            let retires = b.is_some_and(|b| !b.lifecycle.retired()) && a.is_some_and(|a| a.lifecycle.retired());
            if !e.is_empty() {
                *counts.lock().unwrap_or_else(|p| p.into_inner()) = match b {
                    None => (added + 1, changed, retired),
                    Some(_) => (added, changed + 1, retired + usize::from(retires)),
                };
            }
            e
        }
    };
    store.import_assets(
        &mut |current| {
            let m = build(current);
            let assets = m.as_ref().ok().map(|m| m.assets.clone());
            outcome = Some(m);
            assets
        },
        actor,
        &mut audit,
    )?;
    let merged = outcome.unwrap_or_else(|| Ok(Merged::default())).map_err(ImportFailure::Invalid)?;
    let moves = moves.into_inner().unwrap_or_else(|p| p.into_inner());
    super::retirement::anchor(rec, &moves, now_ms)?;
    for (_, a) in moves.iter().filter(|(b, _)| b.is_none()) {
        super::retirement::entered_disposed(rec, who, a, now_ms)?;
    }
    tracing::info!(
        action = action.as_str(),
        added = merged.plan.added.len(),
        changed = merged.plan.changed.len(),
        retired = merged.plan.retired.len(),
        actor,
        "register imported"
    );
    rec.register_edited();
    Ok(merged.plan)
}
