//! Licence use cases: import entitlements (plan first, all or nothing,
//! audited), list them, and the licence report (seats against use, the
//! assets over, unused entitlements, renewals).

use std::collections::HashMap;

use super::audit::entry;
use super::register::ImportFailure;
use crate::audit::AuditAction;
use crate::licences::Entitlement;
use crate::licences::detect::Rules;
use crate::licences::file::{EntitlementPlan, merge, parse};
use crate::licences::usage::{AssetUse, LicenceReport, report as usage_report};
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::reconcile::sighting::Sighting;
use crate::register::csv::Format;
use crate::store::{SightingSelect, StoreError};

/// Every entitlement, by id.
///
/// # Errors
/// The store's.
pub fn list(rec: &Reconciler) -> Result<Vec<Entitlement>, StoreError> {
    rec.store().entitlements()
}

/// Import entitlements as `who`; with `dry_run` only say what would happen.
///
/// # Errors
/// [`ImportFailure::Invalid`] with every problem (row and column), nothing
/// stored; or the store's.
pub fn import(
    rec: &Reconciler,
    bytes: &[u8],
    format: Format,
    dry_run: bool,
    who: &Principal,
) -> Result<EntitlementPlan, ImportFailure> {
    let (rows, problems) = parse(bytes, format);
    if !problems.is_empty() {
        return Err(ImportFailure::Invalid(problems));
    }
    if dry_run {
        return merge(&rec.store().entitlements()?, &rows).map(|(p, _)| p).map_err(ImportFailure::Invalid);
    }
    let now_ms = crate::store::now_ms();
    let mut outcome = None;
    rec.store().write_entitlements(&mut |current| {
        let m = merge(current, &rows);
        let write = match &m {
            Ok((plan, write)) if !write.is_empty() => {
                let by_key: HashMap<String, &Entitlement> =
                    current.iter().map(|c| (c.id.to_ascii_lowercase(), c)).collect();
                let mut audit: Vec<_> = write
                    .iter()
                    .map(|after| {
                        let before = by_key.get(&after.id.to_ascii_lowercase()).copied();
                        entry(
                            &who.name,
                            AuditAction::LicencesImport,
                            format!("entitlement:{}", after.id),
                            before,
                            Some(after),
                            now_ms,
                        )
                    })
                    .collect();
                let summary = serde_json::json!({ "added": plan.added.len(), "changed": plan.changed.len() });
                audit.push(entry(&who.name, AuditAction::LicencesImport, "licences", None, Some(&summary), now_ms));
                Some((write.clone(), audit))
            }
            _ => None,
        };
        outcome = Some(m);
        write
    })?;
    let (plan, written) = outcome.unwrap_or_else(|| Ok(Default::default())).map_err(ImportFailure::Invalid)?;
    if !written.is_empty() {
        tracing::info!(
            added = plan.added.len(),
            changed = plan.changed.len(),
            actor = who.name,
            "entitlements imported"
        );
        rec.licences_changed();
    }
    Ok(plan)
}

/// The licence report as of `now_ms`, from the register, the entitlements
/// and the hosts on the network now (by the reconciler's presence rules).
///
/// # Errors
/// The store's.
pub fn report(rec: &Reconciler, now_ms: i64) -> Result<LicenceReport, StoreError> {
    let store = rec.store();
    let entitlements = store.entitlements()?;
    let rules = Rules::new(&entitlements);
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    let mut present: HashMap<String, Vec<Sighting>> = HashMap::new();
    for (s, tag) in store.sightings(&SightingSelect::Since(now_ms - settings.horizon_ms()))? {
        let Some(tag) = tag else { continue };
        if crate::reconcile::rules::presence_at(&s.ip, s.last_ms, &sweeps, settings, now_ms).present {
            present.entry(tag).or_default().push(s);
        }
    }
    let states = store.asset_states(None)?;
    let uses: Vec<AssetUse> = store
        .assets()?
        .iter()
        .filter_map(|a| {
            let seen: Vec<&Sighting> = present.get(&a.tag).into_iter().flatten().collect();
            let first = states.get(&a.tag).and_then(|s| s.first_seen_ms);
            crate::reconcile::licences::asset_use(&rules, a, &seen, first)
        })
        .collect();
    let today = crate::reconcile::rules::day_of(now_ms);
    Ok(usage_report(&entitlements, &uses, today, |k| rules.name(k).to_string()))
}
