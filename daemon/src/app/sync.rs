//! Register sync use case (`censusd sync snipeit|netbox`, `POST
//! /api/v1/sync/{system}`, and `[sync.*] interval`): read every upstream
//! record, then plan and apply as a register import does — all of it in one
//! transaction, audited as `register.sync`, a dry run showing the same plan.
//!
//! A record the register cannot take (a MAC already on another asset, a
//! serial two assets share, a status no table maps) is skipped and named;
//! the rest applies. A move to `disposed` the asset's verified retirement
//! does not allow is held (the rest of the record applies) and named.
//! After the register is written, "last seen by Census" is written back to
//! the configured custom field of each record whose asset was seen, when
//! it differs from what the record holds (so a second sync writes nothing).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::register::{ImportFailure, apply_import, disposal_problems};
use crate::audit::AuditAction;
use crate::connectors::sync::config::SyncConfig;
use crate::connectors::sync::http::Upstream;
use crate::connectors::sync::plan::{Link, Prepared, ReadExtras, Skipped, prepare};
use crate::connectors::sync::{Mapping, SyncError, System, UpstreamRecord, netbox, snipeit};
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::register::Asset;
use crate::register::csv::ImportError;
use crate::register::patch::{ImportOptions, Merged, merge};
use crate::register::plan::ImportPlan;
use crate::store::StoreError;

/// What a sync did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SyncPlan {
    /// `snipeit` or `netbox`.
    pub system: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// Records read from the system.
    pub records: usize,
    /// The register's changes, as an import's plan.
    #[serde(flatten)]
    pub register: ImportPlan,
    /// Assets tied to a record for the first time, and by what.
    pub links: Vec<Link>,
    /// Assets whose record is gone from the system, newly tagged `retired-in-SYSTEM`.
    pub retired_in_source: Vec<String>,
    /// Records left out, and why.
    pub skipped: Vec<Skipped>,
    /// Disposals held back (the rest of the record applied), and why.
    pub held: Vec<Skipped>,
    /// Differences the sync did not apply to assets linked to both Snipe-IT and NetBox.
    pub not_applied: Vec<Skipped>,
    /// What records hold that the register does not take (a MAC that names
    /// no device), by record; the rest of each record is used.
    pub left_out: Vec<Skipped>,
    /// Records whose "last seen by Census" field was written.
    pub written_back: usize,
    /// Write-backs the system refused (the register is synced regardless).
    pub write_back_failed: Vec<Skipped>,
    /// In a dry run: why the real run would be refused (a mass retirement
    /// without `force`); the plan shows what it would do with `force`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_refuse: Option<String>,
}

/// Why a sync changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// The system could not be read, or its answer is not to be trusted.
    #[error(transparent)]
    Upstream(#[from] SyncError),
    /// The store failed, or refused the sync as a whole.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Patches that fail the merge are taken out (their records skipped with
/// the merge's reason) and the merge is made again, a few times at most.
const MERGE_ROUNDS: usize = 4;

/// What `records` make of `current`: the merge, and the prepared patches
/// as finally used (records the merge refused moved to `skipped`).
fn build(
    system: System,
    current: &[Asset],
    (records, extras): (&[UpstreamRecord], &ReadExtras),
    mapping: &Mapping,
    held: &HashSet<String>,
) -> (Result<Merged, Vec<ImportError>>, Prepared) {
    let mut p = prepare(system, current, records, mapping, extras);
    for patch in p.patches.iter_mut().filter(|x| held.contains(&x.tag.to_lowercase())) {
        patch.values.remove("lifecycle");
        patch.values.remove("lifecycle_since");
    }
    for _ in 0..MERGE_ROUNDS {
        match merge(current, &p.patches, ImportOptions::default()) {
            Ok(m) => return (Ok(m), p),
            Err(errors) => {
                let bad: HashSet<usize> = errors.iter().map(|e| e.row).collect();
                if !p.patches.iter().any(|x| bad.contains(&x.row)) {
                    return (Err(errors), p);
                }
                for e in &errors {
                    let ext = p.rows.get(&e.row).cloned().unwrap_or_default();
                    p.skipped.push(Skipped { external_id: ext, reason: format!("{}: {}", e.column, e.message) });
                }
                let gone: HashSet<String> =
                    p.patches.iter().filter(|x| bad.contains(&x.row)).map(|x| x.tag.clone()).collect();
                p.patches.retain(|x| !bad.contains(&x.row));
                let dropped: HashSet<&String> = bad.iter().filter_map(|r| p.rows.get(r)).collect();
                p.links.retain(|l| !dropped.contains(&l.external_id));
                p.retired_in_source.retain(|t| !gone.contains(t));
            }
        }
    }
    let last = merge(current, &p.patches, ImportOptions::default());
    (last, p)
}

fn refuse(why: String) -> ImportFailure {
    ImportFailure::Store(StoreError::Refused(why))
}

/// The whole-sync guards: no records while assets are linked (a wrong URL
/// or an empty view must not tag the register retired); more than a tenth
/// (and more than 5) of the linked assets newly retired needs `force`.
fn guard(system: System, p: &Prepared, records: usize, force: bool) -> Result<(), ImportFailure> {
    if records == 0 && p.linked > 0 {
        return Err(refuse(format!(
            "{} returned no records while {} assets are linked to it; nothing was changed (check the URL and \
             the token's permissions)",
            system.title(),
            p.linked
        )));
    }
    let n = p.retired_in_source.len();
    if !force && n > (p.linked / 10).max(5) {
        return Err(refuse(format!(
            "{n} of the {} assets linked to {} would be tagged retired in it at once; nothing was changed. \
             Check with --dry-run, then pass --force",
            p.linked,
            system.title()
        )));
    }
    Ok(())
}

/// Plan and (unless `dry_run`) apply `records` of `system` as `who`.
///
/// # Errors
/// [`ImportFailure`]: a guard refused the sync, or the store failed.
pub fn apply(
    rec: &Reconciler,
    system: System,
    (records, extras): (&[UpstreamRecord], &ReadExtras),
    mapping: &Mapping,
    (dry_run, force): (bool, bool),
    who: &Principal,
) -> Result<SyncPlan, ImportFailure> {
    let store = rec.store().as_ref();
    // Disposals past unmet retirement steps are held, judged on the register as it is now.
    let current = store.assets()?;
    let (first, p) = build(system, &current, (records, extras), mapping, &HashSet::new());
    let mut held = Vec::new();
    if let Ok(m) = &first {
        for e in disposal_problems(rec, &current, &m.assets, &p.patches, who)? {
            let tag = p.patches.iter().find(|x| x.row == e.row).map(|x| x.tag.clone()).unwrap_or_default();
            let ext = p.rows.get(&e.row).cloned().unwrap_or_default();
            held.push((tag, Skipped { external_id: ext, reason: format!("not disposed: {}", e.message) }));
        }
    }
    let held_tags: HashSet<String> = held.iter().map(|(t, _)| t.to_lowercase()).collect();
    // A mutex, not a cell: the store may run the import's transaction on a thread of its own.
    let outcome: std::sync::Mutex<Option<Prepared>> = Default::default();
    let mut make = |current: &[Asset]| -> Result<Merged, Vec<ImportError>> {
        let (m, p) = build(system, current, (records, extras), mapping, &held_tags);
        *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        m
    };
    let mut would_refuse = None;
    let plan = if dry_run {
        let m = make(&current).map_err(ImportFailure::Invalid)?;
        let prepared = outcome.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| p.clone());
        // An empty answer is refused outright; a mass retirement is shown, with why a real run would stop.
        guard(system, &prepared, records.len(), true)?;
        if let Err(ImportFailure::Store(StoreError::Refused(why))) = guard(system, &prepared, records.len(), force) {
            would_refuse = Some(why);
        }
        m.plan
    } else {
        guard(system, &p, records.len(), force)?;
        let quiet = first.as_ref().is_ok_and(|m| m.assets.is_empty());
        if quiet {
            // Nothing to write: no transaction, and no audit record of a sync that changed nothing.
            make(&current).map_err(ImportFailure::Invalid)?.plan
        } else {
            let summary = serde_json::json!({"system": system.as_str(), "records": records.len()});
            apply_import(rec, who, AuditAction::RegisterSync, summary, &mut make)?
        }
    };
    let p = outcome.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or(p);
    Ok(SyncPlan {
        system: system.as_str().into(),
        dry_run,
        records: records.len(),
        register: plan,
        links: p.links,
        retired_in_source: p.retired_in_source,
        skipped: p.skipped,
        held: held.into_iter().map(|(_, s)| s).collect(),
        not_applied: p.not_applied,
        left_out: p.left_out,
        written_back: 0,
        write_back_failed: Vec::new(),
        would_refuse,
    })
}

/// For each record whose asset was seen: its id and the day to write, when
/// the record does not hold it already.
fn write_backs(
    rec: &Reconciler,
    system: System,
    records: &[UpstreamRecord],
) -> Result<Vec<(String, String)>, StoreError> {
    let store = rec.store().as_ref();
    let by_ext: HashMap<String, String> = store
        .assets()?
        .into_iter()
        .flat_map(|a| a.external_ids.iter().map(|e| (e.to_lowercase(), a.tag.clone())).collect::<Vec<_>>())
        .collect();
    let tags: Vec<String> =
        records.iter().filter_map(|r| by_ext.get(&r.external_id(system).to_lowercase()).cloned()).collect();
    let states = store.asset_states(Some(&tags))?;
    let mut out = Vec::new();
    for r in records {
        let Some(tag) = by_ext.get(&r.external_id(system).to_lowercase()) else { continue };
        let Some(seen) = states.get(tag).and_then(|s| s.last_seen_ms) else { continue };
        let day = crate::reconcile::rules::day_of(seen).to_string();
        if !r.last_seen_value.as_deref().is_some_and(|v| crate::connectors::sync::same_day(v, &day)) {
            out.push((r.id.clone(), day));
        }
    }
    Ok(out)
}

/// Most absences confirmed one by one in a sync (more are left to the mass-retirement guard).
const MAX_CONFIRM: usize = 2000;

/// Before an asset is tagged retired in the system, its record's absence is
/// confirmed by asking for that record alone: offset paging skips a record
/// when another is deleted and a third added between two pages (the total
/// stays the same), and such a read must not retire the skipped one.
///
/// # Errors
/// [`SyncError::Upstream`] when a record left out of the list is still
/// there (the list changed while it was read), or the request's.
async fn confirm_gone(
    rec: &Arc<Reconciler>,
    up: &Upstream,
    system: System,
    records: &[UpstreamRecord],
    extras: &ReadExtras,
) -> Result<(), SyncError> {
    if extras.blind {
        return Ok(());
    }
    let r = rec.clone();
    let prefix = format!("{}:", system.as_str());
    let linked = tokio::task::spawn_blocking(move || r.store().assets())
        .await
        .map_err(|e| SyncError::Config(format!("reading the register: {e}")))?
        .map_err(|e| SyncError::Config(format!("reading the register: {e}")))?;
    let seen: HashSet<String> = records.iter().map(|r| r.external_id(system).to_lowercase()).collect();
    // Assets already tagged stay tagged; only new absences are confirmed.
    let tag = system.retired_tag();
    let mut gone: Vec<String> = linked
        .iter()
        .filter(|a| !a.tags.contains(&tag))
        .flat_map(|a| a.external_ids.iter())
        .filter(|e| e.starts_with(&prefix))
        .map(|e| e.to_lowercase())
        .filter(|e| !seen.contains(e) && !extras.present.contains(e))
        .collect();
    gone.sort();
    gone.dedup();
    for ext in gone.iter().take(MAX_CONFIRM) {
        let id = ext.split_once(':').map_or(ext.as_str(), |(_, id)| id);
        let there = match system {
            System::SnipeIt => snipeit::still_there(up, id).await?,
            System::NetBox => netbox::still_there(up, id).await?,
        };
        if there {
            return Err(SyncError::Upstream {
                system: system.title(),
                url: ext.clone(),
                message: "left out of the list, yet still there: the list changed while it was read; \
                          the next sync reads it again"
                    .into(),
            });
        }
    }
    Ok(())
}

/// One whole sync of `cfg`'s system as `who`: read it all, then plan and
/// apply on the blocking pool, then write "last seen by Census" back.
///
/// # Errors
/// [`SyncFailure`]; nothing is written then.
pub async fn run(
    rec: Arc<Reconciler>,
    cfg: &SyncConfig,
    (dry_run, force): (bool, bool),
    who: Principal,
) -> Result<SyncPlan, SyncFailure> {
    let system = cfg.system;
    let up = Upstream::new(cfg)?;
    let fetched = match system {
        System::SnipeIt => snipeit::fetch(&up, cfg).await,
        System::NetBox => netbox::fetch(&up, cfg).await,
    };
    let (records, decode_skipped) = fetched.map_err(|e| up.redact_error(e))?;
    let unreadable = |e: &str| e.ends_with('?') || e.contains(":row ");
    let extras = ReadExtras {
        present: decode_skipped.iter().map(|s| s.external_id.to_lowercase()).filter(|e| !unreadable(e)).collect(),
        blind: decode_skipped.iter().any(|s| unreadable(&s.external_id)),
    };
    confirm_gone(&rec, &up, system, &records, &extras).await.map_err(|e| up.redact_error(e))?;
    let records = Arc::new(records);
    let (r2, recs, mapping) = (rec.clone(), records.clone(), cfg.mapping.clone());
    let joined = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        let plan = match apply(&r2, system, (&recs, &extras), &mapping, (dry_run, force), &who) {
            Ok(p) => p,
            Err(ImportFailure::Store(e)) => return Err(e),
            Err(ImportFailure::Invalid(v)) => {
                let first = v.first().map(|e| format!(": {}: {}", e.column, e.message)).unwrap_or_default();
                return Err(StoreError::Refused(format!("{} problem(s) in the sync{first}", v.len())));
            }
        };
        let backs = if dry_run { Vec::new() } else { write_backs(&r2, system, &recs)? };
        Ok((plan, backs))
    })
    .await
    .map_err(|e| StoreError::Db(format!("the sync's worker failed: {e}")))?;
    let (mut plan, backs) = joined?;
    plan.skipped.splice(0..0, decode_skipped);
    if let Some(field) = cfg.last_seen_field.as_deref().filter(|_| !dry_run) {
        for (id, day) in backs {
            let r = match system {
                System::SnipeIt => snipeit::write_back(&up, field, &id, &day).await,
                System::NetBox => netbox::write_back(&up, field, &id, &day).await,
            };
            match r {
                Ok(()) => plan.written_back += 1,
                Err(e) => {
                    tracing::warn!(system = system.as_str(), id, error = %e, "writing last seen back failed");
                    plan.write_back_failed
                        .push(Skipped { external_id: format!("{}:{id}", system.as_str()), reason: e.to_string() });
                }
            }
        }
    }
    tracing::info!(
        system = system.as_str(),
        actor = "sync",
        dry_run,
        records = plan.records,
        added = plan.register.added.len(),
        changed = plan.register.changed.len(),
        retired_in_source = plan.retired_in_source.len(),
        skipped = plan.skipped.len(),
        written_back = plan.written_back,
        "register synced"
    );
    Ok(plan)
}
