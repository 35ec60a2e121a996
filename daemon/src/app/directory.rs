//! The people directory's use cases: import a file, apply an LDAP sync,
//! list. Each shows its plan first (`dry_run`), applies it in one
//! transaction with one audit record per entry changed and one for the
//! whole, then asks for a full reconcile (an owner may have left).

use super::audit::entry;
use super::register::ImportFailure;
use crate::audit::{AuditAction, AuditEntry};
use crate::directory::file::{Format, parse};
use crate::directory::plan::{DirectoryPlan, Merged, merge_file, merge_snapshot};
use crate::directory::{DirectoryEntry, SOURCE_LDAP, id_key};
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::reconcile::rules::day_of;
use crate::store::StoreError;

/// Why a sync was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// The directory could not be read or its answer is not to be trusted.
    #[error(transparent)]
    Ldap(#[from] crate::directory::ldap::LdapError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The whole directory, by id.
///
/// # Errors
/// The store's.
pub fn list(rec: &Reconciler) -> Result<Vec<DirectoryEntry>, StoreError> {
    rec.store().directory()
}

/// Audit records for the entries `m` writes over `current`, then one for the whole.
fn audit_of(
    m: &Merged,
    current: &[DirectoryEntry],
    actor: &str,
    action: AuditAction,
    summary: serde_json::Value,
    now_ms: i64,
) -> Vec<AuditEntry> {
    let by_key: std::collections::HashMap<String, &DirectoryEntry> =
        current.iter().map(|c| (id_key(&c.id), c)).collect();
    let mut out: Vec<AuditEntry> = m
        .write
        .iter()
        .map(|after| {
            let before = by_key.get(&id_key(&after.id)).copied();
            entry(actor, action, format!("person:{}", after.id), before, Some(after), now_ms)
        })
        .collect();
    out.push(entry(actor, action, "directory", None, Some(&summary), now_ms));
    out
}

/// Apply `merge` (made from the directory as read inside the transaction).
fn apply(
    rec: &Reconciler,
    merge: &mut (dyn FnMut(&[DirectoryEntry]) -> Result<Merged, ImportFailure> + Send),
    action: AuditAction,
    who: &Principal,
) -> Result<DirectoryPlan, ImportFailure> {
    let now_ms = crate::store::now_ms();
    let mut outcome: Option<Result<Merged, ImportFailure>> = None;
    rec.store().write_directory(&mut |current| {
        let m = merge(current);
        let write = match &m {
            Ok(m) if !m.write.is_empty() => {
                let summary = serde_json::json!({
                    "added": m.plan.added.len(), "changed": m.plan.changed.len(),
                    "departed": m.plan.departed, "unchanged": m.plan.unchanged,
                });
                Some((m.write.clone(), audit_of(m, current, &who.name, action, summary, now_ms)))
            }
            _ => None,
        };
        outcome = Some(m);
        write
    })?;
    let merged = outcome.unwrap_or_else(|| Ok(Merged::default()))?;
    if !merged.write.is_empty() {
        tracing::info!(
            added = merged.plan.added.len(),
            changed = merged.plan.changed.len(),
            departed = merged.plan.departed.len(),
            action = action.as_str(),
            actor = who.name,
            "people directory changed"
        );
        rec.directory_changed();
    }
    Ok(merged.plan)
}

/// Import a directory file as `who`; with `dry_run` only say what would happen.
///
/// # Errors
/// [`ImportFailure::Invalid`] with every problem of the file (each naming
/// its row and column), nothing stored; or the store's.
pub fn import(
    rec: &Reconciler,
    bytes: &[u8],
    format: Format,
    dry_run: bool,
    who: &Principal,
) -> Result<DirectoryPlan, ImportFailure> {
    let (rows, problems) = parse(bytes, format);
    if !problems.is_empty() {
        return Err(ImportFailure::Invalid(problems));
    }
    let today = day_of(crate::store::now_ms());
    let mut merge = |current: &[DirectoryEntry]| merge_file(current, &rows, today).map_err(ImportFailure::Invalid);
    if dry_run {
        return merge(&rec.store().directory()?).map(|m| m.plan);
    }
    apply(rec, &mut merge, AuditAction::DirectoryImport, who)
}

/// Apply what an LDAP search found (`fetched`: the entries and the DNs left
/// out) as `who`; with `dry_run` only say what would happen.
///
/// # Errors
/// [`crate::directory::ldap::LdapError::Empty`] when the search found nobody
/// but earlier syncs did (a wrong base DN must not mark everyone left);
/// [`crate::directory::ldap::LdapError::MassDeparture`] when it would mark
/// more than a tenth of the people it keeps (and more than 5) left, unless
/// `force`; the store's.
pub fn sync(
    rec: &Reconciler,
    fetched: (Vec<DirectoryEntry>, Vec<String>),
    base_dn: &str,
    (dry_run, force): (bool, bool),
    who: &Principal,
) -> Result<DirectoryPlan, SyncFailure> {
    use crate::directory::ldap::LdapError;
    let (found, skipped) = fetched;
    let today = day_of(crate::store::now_ms());
    let mut merge = |current: &[DirectoryEntry]| -> Result<Merged, ImportFailure> {
        let known = current.iter().filter(|e| e.source == SOURCE_LDAP).count();
        if found.is_empty() && known > 0 {
            let why = LdapError::Empty { base_dn: base_dn.to_string(), known }.to_string();
            return Err(ImportFailure::Store(StoreError::Refused(why)));
        }
        let m = merge_snapshot(current, found.clone(), today);
        // A wrong filter or base can make most people vanish at once: applying
        // that needs `force` (a dry run shows it).
        let departing = m.plan.departed.len();
        if !dry_run && !force && departing > (known / 10).max(5) {
            let why = LdapError::MassDeparture { departing, known }.to_string();
            return Err(ImportFailure::Store(StoreError::Refused(why)));
        }
        Ok(m)
    };
    let plan = if dry_run {
        merge(&rec.store().directory()?).map(|m| m.plan)
    } else {
        apply(rec, &mut merge, AuditAction::DirectorySync, who)
    };
    let mut plan = plan.map_err(|e| match e {
        ImportFailure::Store(s) => SyncFailure::Store(s),
        ImportFailure::Invalid(v) => SyncFailure::Store(StoreError::Refused(format!("{} problem(s)", v.len()))),
    })?;
    plan.skipped = skipped;
    Ok(plan)
}

/// One whole sync: read the directory `cfg` names, then apply what it said
/// as `who` on the blocking pool.
///
/// # Errors
/// The sync's ([`SyncFailure`]); nothing is written then.
pub async fn sync_from(
    rec: std::sync::Arc<Reconciler>,
    cfg: &crate::directory::ldap::LdapConfig,
    (dry_run, force): (bool, bool),
    who: Principal,
) -> Result<DirectoryPlan, SyncFailure> {
    let fetched = crate::directory::ldap::fetch(cfg).await?;
    let base_dn = cfg.base_dn.clone();
    tokio::task::spawn_blocking(move || sync(&rec, fetched, &base_dn, (dry_run, force), &who))
        .await
        .map_err(|e| StoreError::Db(format!("the sync's worker failed: {e}")))?
}
