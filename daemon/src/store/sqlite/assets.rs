//! Register persistence: assets as JSON bodies keyed by tag, lookup keys
//! (MACs, IPs, host names) in `asset_keys` for matching and whois, and a
//! change history per asset (who changed which fields, when; lifecycle
//! transitions spelled out).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::register::Asset;
use crate::store::shared::assets as shared;
use crate::store::{AssetChange, StoreError, now_ms};

fn decode(body: &str) -> Option<Asset> {
    shared::decode(body).ok()
}

/// Every asset, by tag.
pub fn all(c: &Connection) -> Result<Vec<Asset>, StoreError> {
    let mut st = c.prepare_cached("SELECT body FROM assets ORDER BY tag")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        if let Some(a) = decode(&body?) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Up to `limit` assets by tag, after `after`.
pub fn page(c: &Connection, after: Option<&str>, limit: usize) -> Result<Vec<Asset>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two statements, not `?1 IS NULL OR tag > ?1`: with the OR, SQLite
    // walks the tag index from its start and filters, so paging through a
    // large register costs the square of its size.
    let bodies: Vec<String> = match after {
        None => c
            .prepare_cached("SELECT body FROM assets ORDER BY tag LIMIT ?1")?
            .query_map([limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        Some(after) => c
            .prepare_cached("SELECT body FROM assets WHERE tag > ?1 ORDER BY tag LIMIT ?2")?
            .query_map(params![after, limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
    };
    // Decoded on every core: a full reconcile reads the whole register this way.
    Ok(crate::reconcile::parallel_filter_map(&bodies, |b| decode(b)))
}

/// The assets with these exact tags, by tag (tags not in the register are left out).
pub fn by_tags(c: &Connection, tags: &[String]) -> Result<Vec<Asset>, StoreError> {
    let mut bodies: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for chunk in tags.chunks(500) {
        let mut st =
            c.prepare_cached(&format!("SELECT tag, body FROM assets WHERE tag IN {}", super::in_list(chunk.len())))?;
        bodies.extend(
            st.query_map(rusqlite::params_from_iter(chunk), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    bodies.sort_unstable();
    bodies.dedup_by(|a, b| a.0 == b.0);
    Ok(bodies.iter().filter_map(|(_, b)| decode(b)).collect())
}

/// One asset, by its tag in any case.
pub fn one(c: &Connection, tag: &str) -> Result<Option<Asset>, StoreError> {
    let body: Option<String> = c
        .prepare_cached("SELECT body FROM assets WHERE tag = ?1 COLLATE NOCASE ORDER BY tag LIMIT 1")?
        .query_row([tag], |r| r.get(0))
        .optional()?;
    Ok(body.as_deref().and_then(decode))
}

/// A MAC may be recorded on one asset only.
fn check_macs(tx: &Transaction<'_>, a: &Asset) -> Result<(), StoreError> {
    let mut st =
        tx.prepare_cached("SELECT tag FROM asset_keys WHERE kind = 'mac' AND value = ?1 AND tag != ?2 LIMIT 1")?;
    shared::check_macs(a, |m| Ok(st.query_row(params![m, a.tag], |r| r.get::<_, String>(0)).optional()?))
}

fn write_keys(tx: &Transaction<'_>, a: &Asset) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM asset_keys WHERE tag = ?1")?.execute([&a.tag])?;
    let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO asset_keys (kind, value, tag) VALUES (?1, ?2, ?3)")?;
    for (kind, value) in shared::keys(a) {
        ins.execute(params![kind, value, a.tag])?;
    }
    Ok(())
}

fn put(tx: &Transaction<'_>, a: &Asset) -> Result<(), StoreError> {
    let body = shared::encode(a);
    tx.prepare_cached(
        "INSERT INTO assets (tag, body, lifecycle, updated_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (tag) DO UPDATE SET body = excluded.body, lifecycle = excluded.lifecycle, updated_ms = excluded.updated_ms",
    )?
    .execute(params![a.tag, body, a.lifecycle.as_str(), now_ms()])?;
    write_keys(tx, a)
}

fn record(
    tx: &Transaction<'_>,
    tag: &str,
    actor: &str,
    action: &str,
    fields: &[String],
    lifecycle: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO asset_history (tag, at_ms, actor, action, fields, lifecycle_from, lifecycle_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        tag,
        now_ms(),
        actor,
        action,
        shared::fields_json(fields),
        lifecycle.map(|l| l.0),
        lifecycle.map(|l| l.1)
    ])?;
    Ok(())
}

/// Create `asset`; its lifecycle date defaults to today.
pub fn create(tx: &Transaction<'_>, asset: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
    if let Some(existing) = one(tx, &asset.tag)? {
        return Err(shared::tag_taken(&existing.tag));
    }
    check_macs(tx, asset)?;
    let a = shared::created(asset);
    put(tx, &a)?;
    record(tx, &a.tag, actor, action, &[], Some(shared::created_lifecycle(&a)))?;
    Ok(a)
}

/// Replace `old` with `new`; a lifecycle change is dated today unless given.
pub fn update(tx: &Transaction<'_>, old: &Asset, new: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
    let shared::Replacement { asset: a, fields, lifecycle } = shared::replacement(old, new);
    if fields.is_empty() {
        return Ok(a);
    }
    check_macs(tx, &a)?;
    put(tx, &a)?;
    record(tx, &a.tag, actor, action, &fields, lifecycle)?;
    Ok(a)
}

/// Delete the asset `tag` (any case).
pub fn delete(tx: &Transaction<'_>, tag: &str, actor: &str) -> Result<bool, StoreError> {
    let Some(a) = one(tx, tag)? else { return Ok(false) };
    let tag = a.tag.as_str();
    tx.prepare_cached("DELETE FROM assets WHERE tag = ?1")?.execute([tag])?;
    tx.prepare_cached("DELETE FROM asset_keys WHERE tag = ?1")?.execute([tag])?;
    tx.prepare_cached("DELETE FROM asset_state WHERE tag = ?1")?.execute([tag])?;
    tx.prepare_cached("DELETE FROM learned_keys WHERE tag = ?1")?.execute([tag])?;
    record(tx, tag, actor, "delete", &[], None)?;
    Ok(true)
}

/// Apply an import: `build` turns the current register into the assets to
/// write (or `None` to write nothing); new tags are created, others updated,
/// all in the caller's transaction.
pub fn import(
    tx: &Transaction<'_>,
    build: &mut dyn FnMut(&[Asset]) -> Option<Vec<Asset>>,
    actor: &str,
    audit: crate::store::AuditOf<'_, Asset>,
) -> Result<bool, StoreError> {
    let current = all(tx)?;
    let Some(assets) = build(&current) else { return Ok(false) };
    // Every asset the import rewrites gets its keys anew: drop them all
    // first, so a MAC moved from one row's asset to another's is judged
    // against the import's result, not against the order of its rows (a MAC
    // on two assets is still refused when the second is written). An asset
    // named unchanged is not rewritten: its keys stay.
    // (Through the register's case-blind tag index: `asset_keys.tag = ?
    // COLLATE NOCASE` cannot use its index, and scanned every key per row.)
    let mut drop_keys = tx
        .prepare_cached("DELETE FROM asset_keys WHERE tag IN (SELECT tag FROM assets WHERE tag = ?1 COLLATE NOCASE)")?;
    for tag in shared::rewritten_tags(&current, &assets) {
        drop_keys.execute([&tag])?;
    }
    for a in &assets {
        let old = one(tx, &a.tag)?;
        let stored = match &old {
            None => create(tx, a, actor, "import")?,
            Some(old) => update(tx, old, a, actor, "import")?,
        };
        super::audit::append(tx, &audit(old.as_ref(), Some(&stored)))?;
    }
    super::audit::append(tx, &audit(None, None))?;
    Ok(true)
}

/// An asset's history, newest first.
pub fn history(c: &Connection, tag: &str) -> Result<Vec<AssetChange>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT at_ms, actor, action, fields, lifecycle_from, lifecycle_to FROM asset_history WHERE tag = ?1 ORDER BY id DESC",
    )?;
    let tag = one(c, tag)?.map_or_else(|| tag.to_string(), |a| a.tag);
    let rows = st.query_map([tag], |r| {
        let fields: String = r.get(3)?;
        Ok(shared::history_entry(r.get(0)?, r.get(1)?, r.get(2)?, &fields, r.get(4)?, r.get(5)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
