//! Register use cases: create, update, delete, import (merge by default, dry
//! run) — each audited, and each change followed once by a rebuilt match
//! index and a full reconcile soon ([`Reconciler::register_edited`]).

use super::audit::{json, record};
use crate::audit::AuditAction;
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::register::Asset;
use crate::register::csv::{CsvOptions, ImportError, parse_csv, parse_json};
use crate::register::patch::{ImportOptions, Merged, merge};
use crate::register::plan::ImportPlan;
use crate::store::StoreError;

/// Held while an asset's state before a change is read and the change made,
/// so concurrent edits of one daemon each record the state they replaced.
static EDITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn edit_lock() -> std::sync::MutexGuard<'static, ()> {
    EDITS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Add an asset as `who`.
///
/// # Errors
/// [`StoreError::Conflict`] when the tag is taken.
pub fn create(rec: &Reconciler, who: &Principal, asset: &Asset, now_ms: i64) -> Result<Asset, StoreError> {
    let store = rec.store().as_ref();
    let stored = store.create_asset(asset, &who.name)?;
    record(store, &who.name, AuditAction::AssetCreate, format!("asset:{}", stored.tag), None, json(&stored), now_ms);
    rec.register_edited();
    Ok(stored)
}

/// Replace an asset as `who`.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such asset.
pub fn update(rec: &Reconciler, who: &Principal, asset: &Asset, now_ms: i64) -> Result<Asset, StoreError> {
    let store = rec.store().as_ref();
    let _edit = edit_lock();
    let before = store.asset(&asset.tag)?;
    let stored = store.update_asset(asset, &who.name)?;
    let subject = format!("asset:{}", stored.tag);
    record(store, &who.name, AuditAction::AssetUpdate, subject, before.as_ref().and_then(json), json(&stored), now_ms);
    rec.register_edited();
    Ok(stored)
}

/// Delete an asset as `who`; false when there was none.
///
/// # Errors
/// The store failed.
pub fn delete(rec: &Reconciler, who: &Principal, tag: &str, now_ms: i64) -> Result<bool, StoreError> {
    let store = rec.store().as_ref();
    let _edit = edit_lock();
    let before = store.asset(tag)?;
    let deleted = store.delete_asset(tag, &who.name)?;
    if deleted {
        let subject = format!("asset:{}", before.as_ref().map_or(tag, |a| a.tag.as_str()));
        record(store, &who.name, AuditAction::AssetDelete, subject, before.as_ref().and_then(json), None, now_ms);
        rec.register_edited();
    }
    Ok(deleted)
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv(CsvOptions),
    /// A JSON array of assets.
    Json,
}

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
    let actor = who.name.as_str();
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
    if dry_run || !problems.is_empty() {
        let current = store.assets()?;
        return with_file_problems(merge(&current, &patches, opts), &mut problems)
            .map(|m| m.plan)
            .map_err(ImportFailure::Invalid);
    }
    let mut outcome: Option<Result<Merged, Vec<ImportError>>> = None;
    store.import_assets(
        &mut |current| {
            let m = merge(current, &patches, opts);
            let assets = m.as_ref().ok().map(|m| m.assets.clone());
            outcome = Some(m);
            assets
        },
        actor,
    )?;
    let merged = outcome.unwrap_or_else(|| Ok(Merged::default())).map_err(ImportFailure::Invalid)?;
    tracing::info!(
        rows = patches.len(),
        added = merged.plan.added.len(),
        changed = merged.plan.changed.len(),
        retired = merged.plan.retired.len(),
        actor,
        "register imported"
    );
    let summary = serde_json::json!({
        "rows": patches.len(),
        "added": merged.plan.added.len(),
        "changed": merged.plan.changed.len(),
        "retired": merged.plan.retired.len(),
        "replace": opts.replace,
        "clear_empty": opts.clear_empty,
    });
    record(store, &who.name, AuditAction::RegisterImport, "register", None, Some(summary), crate::store::now_ms());
    rec.register_edited();
    Ok(merged.plan)
}
