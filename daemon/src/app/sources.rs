//! Coverage-source use cases: define a source, load its export (the list
//! replaced whole, all or nothing, audited), list sources, remove one.
//! Every change asks for a full reconcile, which judges the source alerts
//! ([`crate::reconcile::sources`]).

use serde::Serialize;

use super::audit::entry;
use crate::audit::AuditAction;
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::register::csv::ImportError;
use crate::sources::{Source, SourceDef, SourceRecord};
use crate::store::StoreError;

/// A source as listed: its definition and its last load, without the records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceSummary {
    /// The definition.
    #[serde(flatten)]
    pub def: SourceDef,
    /// When it was last loaded (unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_ms: Option<i64>,
    /// Who loaded it.
    pub loaded_by: String,
    /// Records in its list.
    pub records: usize,
    /// Not loaded within its maximum age (or never).
    pub stale: bool,
}

impl SourceSummary {
    /// `s` as listed at `now_ms`.
    pub fn of(s: &Source, now_ms: i64) -> SourceSummary {
        SourceSummary {
            stale: s.stale(now_ms),
            records: s.records.len(),
            loaded_ms: s.loaded_ms,
            loaded_by: s.loaded_by.clone(),
            def: s.def.clone(),
        }
    }
}

/// What a load changed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct LoadOutcome {
    /// The source.
    pub source: String,
    /// Records in the new list.
    pub records: usize,
    /// Records (by key) not in the previous list.
    pub added: usize,
    /// Records (by key) of the previous list no longer listed.
    pub removed: usize,
    /// Nothing was stored (`dry_run`).
    pub dry_run: bool,
}

/// Every source, by name.
///
/// # Errors
/// The store's.
pub fn list(rec: &Reconciler, now_ms: i64) -> Result<Vec<SourceSummary>, StoreError> {
    Ok(rec.store().sources()?.iter().map(|s| SourceSummary::of(s, now_ms)).collect())
}

/// Define source `def.name`, or change its definition: its list is kept
/// unless the format, key or map changed (then it waits for the next load).
///
/// # Errors
/// [`SourceError::Invalid`] naming each problem; the store's.
pub fn define(rec: &Reconciler, who: &Principal, def: SourceDef, now_ms: i64) -> Result<SourceSummary, SourceError> {
    let problems = def.check();
    if !problems.is_empty() {
        return Err(SourceError::Invalid(problems));
    }
    let mut kept = None;
    let written = rec.store().write_sources(&mut |sources| {
        let before = sources.iter().find(|s| s.name() == def.name);
        // A list read with another format, key or map is not this definition's:
        // it is dropped, and the source waits for its next load.
        let kept_list = before.filter(|b| (b.def.format, b.def.key, &b.def.map) == (def.format, def.key, &def.map));
        let after = Source {
            def: def.clone(),
            loaded_ms: kept_list.and_then(|b| b.loaded_ms),
            loaded_by: kept_list.map(|b| b.loaded_by.clone()).unwrap_or_default(),
            records: kept_list.map(|b| b.records.clone()).unwrap_or_default(),
        };
        kept = Some(SourceSummary::of(&after, now_ms));
        if before.is_some_and(|b| b.def == def) {
            return None;
        }
        let audit = entry(
            &who.name,
            AuditAction::SourceDefine,
            format!("source:{}", def.name),
            before.map(|b| &b.def),
            Some(&def),
            now_ms,
        );
        Some((vec![after], vec![audit]))
    })?;
    let summary = kept.ok_or_else(|| StoreError::Db("the source was not written".into()))?;
    if written {
        tracing::info!(source = summary.def.name, actor = who.name, "coverage source defined");
        rec.sources_changed();
    }
    Ok(summary)
}

/// Why a source change stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The definition has problems: each (field, why).
    #[error("{}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(&'static str, String)>),
    /// No source has the name.
    #[error("no coverage source `{0}`: define it first (censusd source add)")]
    NoSuchSource(String),
    /// The export has problems, each by row and column.
    #[error("{} problem(s) in the export; nothing was stored", .0.len())]
    File(Vec<ImportError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The keys of `records` by `key`.
fn keys(records: &[SourceRecord], key: crate::sources::Field) -> std::collections::HashSet<String> {
    records.iter().map(|r| r.key_value(key)).collect()
}

/// Load `bytes` (the source's export) as source `name`'s list, replacing
/// the previous one whole, as `who` at `now_ms`; with `dry_run` only say
/// what would change.
///
/// # Errors
/// [`SourceError::NoSuchSource`]; [`SourceError::File`] with every problem
/// by row and column (nothing stored); the store's.
pub fn load(
    rec: &Reconciler,
    who: &Principal,
    name: &str,
    bytes: &[u8],
    dry_run: bool,
    now_ms: i64,
) -> Result<LoadOutcome, SourceError> {
    let name = name.trim().to_ascii_lowercase();
    let Some(current) = rec.store().sources()?.into_iter().find(|s| s.name() == name) else {
        return Err(SourceError::NoSuchSource(name));
    };
    let records: Vec<SourceRecord> = crate::sources::file::parse(&current.def, bytes).map_err(SourceError::File)?;
    let outcome = |before: &Source| {
        let (old, new) = (keys(&before.records, before.def.key), keys(&records, before.def.key));
        LoadOutcome {
            source: name.clone(),
            records: records.len(),
            added: new.difference(&old).count(),
            removed: old.difference(&new).count(),
            dry_run,
        }
    };
    if dry_run {
        return Ok(outcome(&current));
    }
    let mut out = None;
    rec.store().write_sources(&mut |sources| {
        let before = sources.iter().find(|s| s.name() == name)?;
        let o = outcome(before);
        let summary = serde_json::json!({ "records": o.records, "added": o.added, "removed": o.removed });
        let audit = entry(&who.name, AuditAction::SourceLoad, format!("source:{name}"), None, Some(&summary), now_ms);
        out = Some(o);
        let after = Source {
            def: before.def.clone(),
            records: records.clone(),
            loaded_ms: Some(now_ms),
            loaded_by: who.name.clone(),
        };
        Some((vec![after], vec![audit]))
    })?;
    let out = out.ok_or_else(|| SourceError::NoSuchSource(name.clone()))?;
    tracing::info!(
        source = name,
        records = out.records,
        added = out.added,
        removed = out.removed,
        actor = who.name,
        "coverage source loaded"
    );
    rec.sources_changed();
    Ok(out)
}

/// Remove source `name` and its list, as `who`; its alerts resolve at the
/// next full reconcile. False when there was none.
///
/// # Errors
/// The store's.
pub fn remove(rec: &Reconciler, who: &Principal, name: &str, now_ms: i64) -> Result<bool, StoreError> {
    let name = name.trim().to_ascii_lowercase();
    let summary = |s: &Source| serde_json::json!({ "definition": s.def, "records": s.records.len() });
    let before = rec.store().sources()?.into_iter().find(|s| s.name() == name);
    let Some(before) = before else { return Ok(false) };
    let gone = summary(&before);
    let audit = entry(&who.name, AuditAction::SourceRemove, format!("source:{name}"), Some(&gone), None, now_ms);
    let removed = rec.store().remove_source(&name, vec![audit])?;
    if removed {
        tracing::info!(source = name, actor = who.name, "coverage source removed");
        rec.sources_changed();
    }
    Ok(removed)
}
