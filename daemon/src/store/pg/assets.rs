//! PostgreSQL: the managed register and its change history (as
//! `store/sqlite/assets.rs`); the directory, entitlements, retirements and
//! sources through [`super::keyed`].
//!
//! Assets are JSON bodies keyed by tag, with their lookup keys (MACs, IPs,
//! host names, serials, external ids) in `asset_keys` and a history row per
//! change. Lists are in byte order of tags (`tag` is `COLLATE "C"`). A tag
//! is found in any ASCII case through the `lower(tag)` index: under the
//! column's "C" collation `lower` folds ASCII letters only, as SQLite's
//! `NOCASE` does, so `lower(tag) = lower($1 COLLATE "C")` (or a list
//! lowered with `to_ascii_lowercase`) matches exactly the tags SQLite's
//! `tag = ? COLLATE NOCASE` does.
//!
//! Writes: a change ([`Change`]) reads the rows it depends on up front —
//! the stored assets of its tags in any case, the holders of its MACs —
//! takes each decision in memory in order, exactly as SQLite's statements
//! do one asset at a time (shared decisions in
//! [`crate::store::shared::assets`]), and then writes assets, keys and
//! history with a few array statements. So an import of many assets costs
//! a handful of round trips, not several per asset; all of it runs in the
//! caller's write transaction (under the write lock), so nothing changes
//! between the reads and the writes.

use postgres::types::Type;

use super::asset_change::Change;
use super::keyed::{self, Keyed};
use super::statistics::Group;
use super::{PostgresStore, Tx, audit};
use crate::audit::AuditEntry;
use crate::register::Asset;
use crate::store::shared::assets as shared;
use crate::store::{AssetChange, AuditOf, DirectoryBuild, EntitlementBuild, KeyedBuild, RegisterStore, StoreError};

/// Rows an array statement writes at most (bounds one message's size).
pub(super) const WRITE_CHUNK: usize = 10_000;

/// The asset of a row with `tag` and `body` columns (any others ignored),
/// for every file of this store that reads assets.
///
/// # Errors
/// [`StoreError::Db`] when the row lacks those columns, or its body is not
/// an asset (written by a newer version, or damaged). Lists leave such an
/// asset out, as SQLite's do: readers of several rows skip an `Err` (and
/// may log it), as [`all`] does.
pub(super) fn asset_row(row: &postgres::Row) -> Result<Asset, StoreError> {
    let tag: &str = row.try_get("tag")?;
    let body: &str = row.try_get("body")?;
    shared::decode(body).map_err(|e| StoreError::Db(format!("asset `{tag}` does not decode: {e}")))
}

/// `(tag, body)` of each row of a `SELECT tag, body …`.
pub(super) fn bodies(rows: &[postgres::Row]) -> Result<Vec<(String, String)>, StoreError> {
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// The assets of `(tag, body)` rows, in their order, those that do not
/// decode left out (decoded on every core: a full reconcile reads the whole
/// register a page at a time).
fn decoded(rows: &[(String, String)]) -> Vec<Asset> {
    crate::reconcile::parallel_filter_map(rows, |(_, b)| shared::decode(b).ok())
}

/// Every asset, by tag.
pub(super) fn all(tx: &mut Tx<'_>) -> Result<Vec<Asset>, StoreError> {
    Ok(decoded(&bodies(&tx.query("SELECT tag, body FROM assets ORDER BY tag", &[])?)?))
}

/// Up to `limit` assets by tag, after `after`.
fn page(tx: &mut Tx<'_>, after: Option<&str>, limit: usize) -> Result<Vec<Asset>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match after {
        None => tx.query_typed("SELECT tag, body FROM assets ORDER BY tag LIMIT $1", &[(&limit, Type::INT8)])?,
        Some(after) => tx.query_typed(
            "SELECT tag, body FROM assets WHERE tag > $1 ORDER BY tag LIMIT $2",
            &[(&after, Type::TEXT), (&limit, Type::INT8)],
        )?,
    };
    Ok(decoded(&bodies(&rows)?))
}

/// The assets with these exact tags, by tag (tags not in the register are
/// left out; a tag given twice is one row).
fn by_tags(tx: &mut Tx<'_>, tags: &[String]) -> Result<Vec<Asset>, StoreError> {
    if tags.is_empty() {
        return Ok(Vec::new());
    }
    let rows =
        tx.query_typed("SELECT tag, body FROM assets WHERE tag = ANY($1) ORDER BY tag", &[(&tags, Type::TEXT_ARRAY)])?;
    Ok(decoded(&bodies(&rows)?))
}

/// The asset `tag` (any case): of several stored tags that differ only in
/// case, the first in byte order; `None` when absent or its body does not decode.
///
/// # Errors
/// [`StoreError::Db`] when the read fails.
pub fn one(tx: &mut Tx<'_>, tag: &str) -> Result<Option<Asset>, StoreError> {
    let rows = tx.query_prepared(ONE_SQL, &[(&tag, Type::TEXT)])?;
    Ok(rows.first().and_then(|r| asset_row(r).ok()))
}

/// [`one`]'s statement. `OFFSET 0` keeps the match inside: the planner may
/// otherwise walk the primary key in tag order, filtering each row, to stop
/// at the first match — and walk all of it when none matches. It did until
/// the `lower(tag)` index had statistics (an ANALYZE after an import): 33 ms
/// for an absent tag at 100,000 assets, 0.04 ms through the index.
pub(super) const ONE_SQL: &str = "SELECT tag, body FROM (SELECT tag, body FROM assets
     WHERE lower(tag) = lower($1 COLLATE \"C\") OFFSET 0) t ORDER BY tag LIMIT 1";

/// Create `asset`, recording its history as `actor` doing `action`; its
/// lifecycle date defaults to today.
///
/// # Errors
/// [`StoreError::Conflict`] when its tag is taken in any case;
/// [`StoreError::Refused`] when another asset records one of its MACs;
/// [`StoreError::Db`] when a statement fails.
pub fn create(tx: &mut Tx<'_>, asset: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
    let mut change = Change::load(tx, &[asset])?;
    let stored = change.create(asset, actor, action)?;
    change.write(tx)?;
    Ok(stored)
}

/// Replace `old` with `new`; a lifecycle change is dated today unless given.
/// Nothing is written when no field changed.
///
/// # Errors
/// [`StoreError::Refused`] when another asset records one of its MACs;
/// [`StoreError::Db`] when a statement fails.
pub fn update(tx: &mut Tx<'_>, old: &Asset, new: &Asset, actor: &str, action: &str) -> Result<Asset, StoreError> {
    let mut change = Change::load(tx, &[old, new])?;
    let stored = change.update(old, new, actor, action)?;
    change.write(tx)?;
    Ok(stored)
}

/// Delete the stored asset `a` with its keys, state and learned keys,
/// recording it in its history.
fn delete(tx: &mut Tx<'_>, a: &Asset, actor: &str) -> Result<(), StoreError> {
    let tag = a.tag.as_str();
    for table in ["assets", "asset_keys", "asset_state", "learned_keys"] {
        tx.execute_typed(&format!("DELETE FROM {table} WHERE tag = $1"), &[(&tag, Type::TEXT)])?;
    }
    let mut change = Change::default();
    change.record(tag, actor, "delete", &[], None);
    change.write(tx)
}

/// Apply an import: `build` turns the current register into the assets to
/// write (or `None` to write nothing); new tags are created, others
/// updated, each audited, then the import as a whole — all in the
/// caller's transaction. Returns how many assets were written, `None`
/// when `build` wrote nothing.
fn import(
    tx: &mut Tx<'_>,
    build: &mut (dyn FnMut(&[Asset]) -> Option<Vec<Asset>> + Send),
    actor: &str,
    audit: AuditOf<'_, Asset>,
) -> Result<Option<u64>, StoreError> {
    let current = all(tx)?;
    let Some(assets) = build(&current) else { return Ok(None) };
    // Every asset the import rewrites gets its keys anew: drop them all
    // first, so a MAC moved from one row's asset to another's is judged
    // against the import's result, not against the order of its rows (a MAC
    // on two assets is still refused when the second is written). An asset
    // named unchanged is not rewritten: its keys stay.
    let lowered = shared::rewritten_tags(&current, &assets);
    drop(current);
    for chunk in lowered.chunks(WRITE_CHUNK) {
        tx.execute_typed(
            "DELETE FROM asset_keys WHERE tag IN (SELECT tag FROM assets WHERE lower(tag) = ANY($1))",
            &[(&chunk, Type::TEXT_ARRAY)],
        )?;
    }
    let refs: Vec<&Asset> = assets.iter().collect();
    let mut change = Change::load(tx, &refs)?;
    let mut entries: Vec<AuditEntry> = Vec::new();
    for a in &assets {
        let old = change.one(&a.tag);
        let stored = match &old {
            None => change.create(a, actor, "import")?,
            Some(old) => change.update(old, a, actor, "import")?,
        };
        entries.extend(audit(old.as_ref(), Some(&stored)));
    }
    entries.extend(audit(None, None));
    change.write(tx)?;
    audit::append(tx, &entries)?;
    Ok(Some(assets.len() as u64))
}

/// An asset's history, newest first.
fn history(tx: &mut Tx<'_>, tag: &str) -> Result<Vec<AssetChange>, StoreError> {
    let tag = one(tx, tag)?.map_or_else(|| tag.to_string(), |a| a.tag);
    let rows = tx.query_typed(
        "SELECT at_ms, actor, action, fields, lifecycle_from, lifecycle_to FROM asset_history WHERE tag = $1 ORDER BY id DESC",
        &[(&tag, Type::TEXT)],
    )?;
    rows.iter()
        .map(|r| {
            let fields: &str = r.try_get(3)?;
            Ok(shared::history_entry(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, fields, r.try_get(4)?, r.try_get(5)?))
        })
        .collect()
}

impl RegisterStore for PostgresStore {
    fn assets(&self) -> Result<Vec<Asset>, StoreError> {
        self.read(all)
    }

    fn assets_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Asset>, StoreError> {
        self.read(|tx| page(tx, after, limit))
    }

    fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError> {
        self.read(|tx| one(tx, tag))
    }

    fn assets_by_tags(&self, tags: &[String]) -> Result<Vec<Asset>, StoreError> {
        self.read(|tx| by_tags(tx, tags))
    }

    fn create_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError> {
        self.write(|tx| {
            let stored = create(tx, asset, actor, "create")?;
            audit::append(tx, &audit(None, Some(&stored)))?;
            Ok(stored)
        })
    }

    fn update_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError> {
        self.write(|tx| {
            let mut change = Change::load(tx, &[asset])?;
            let old = change.one(&asset.tag).ok_or_else(|| shared::no_such_asset(&asset.tag))?;
            let stored = change.update(&old, asset, actor, "update")?;
            change.write(tx)?;
            audit::append(tx, &audit(Some(&old), Some(&stored)))?;
            Ok(stored)
        })
    }

    fn delete_asset(&self, tag: &str, actor: &str, audit: AuditOf<'_, Asset>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(old) = one(tx, tag)? else { return Ok(false) };
            delete(tx, &old, actor)?;
            audit::append(tx, &audit(Some(&old), None))?;
            Ok(true)
        })
    }

    fn import_assets(
        &self,
        build: &mut (dyn FnMut(&[Asset]) -> Option<Vec<Asset>> + Send),
        actor: &str,
        audit: AuditOf<'_, Asset>,
    ) -> Result<bool, StoreError> {
        let Some(written) = self.write(|tx| import(tx, build, actor, audit))? else { return Ok(false) };
        self.grew(Group::Register, written);
        Ok(true)
    }

    fn asset_history(&self, tag: &str) -> Result<Vec<AssetChange>, StoreError> {
        self.read(|tx| history(tx, tag))
    }

    fn directory(&self) -> Result<Vec<crate::directory::DirectoryEntry>, StoreError> {
        self.read(|tx| keyed::all(tx, Keyed::Directory))
    }

    fn write_directory(&self, build: DirectoryBuild<'_>) -> Result<bool, StoreError> {
        self.write(|tx| keyed::apply(tx, Keyed::Directory, |e: &crate::directory::DirectoryEntry| &e.id, build))
    }

    fn entitlements(&self) -> Result<Vec<crate::licences::Entitlement>, StoreError> {
        self.read(|tx| keyed::all(tx, Keyed::Entitlements))
    }

    fn write_entitlements(&self, build: EntitlementBuild<'_>) -> Result<bool, StoreError> {
        self.write(|tx| keyed::apply(tx, Keyed::Entitlements, |e: &crate::licences::Entitlement| &e.id, build))
    }

    fn retirements(&self) -> Result<Vec<crate::retirement::RetirementRecord>, StoreError> {
        self.read(|tx| keyed::all(tx, Keyed::Retirements))
    }

    fn write_retirements(
        &self,
        build: KeyedBuild<'_, crate::retirement::RetirementRecord>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| keyed::apply(tx, Keyed::Retirements, |r: &crate::retirement::RetirementRecord| &r.tag, build))
    }

    fn sources(&self) -> Result<Vec<crate::sources::Source>, StoreError> {
        self.read(|tx| keyed::all(tx, Keyed::Sources))
    }

    fn write_sources(&self, build: KeyedBuild<'_, crate::sources::Source>) -> Result<bool, StoreError> {
        self.write(|tx| keyed::apply(tx, Keyed::Sources, |s: &crate::sources::Source| &s.def.name, build))
    }

    fn remove_source(&self, name: &str, audit: Vec<AuditEntry>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let removed = keyed::remove(tx, Keyed::Sources, name)?;
            if removed {
                audit::append(tx, &audit)?;
            }
            Ok(removed)
        })
    }
}

/// The register and keyed tables held to SQLite's: the same script of
/// changes (case-blind tags, MAC moves and clashes in imports, a tag twice
/// in one import, lifecycle changes, deletes, a non-ASCII tag) answers the
/// same on both, errors included, and PostgreSQL's `asset_keys` are what
/// SQLite's statements would leave. Run when `CENSUS_TEST_POSTGRES` names a
/// server (skipped otherwise).
#[cfg(test)]
mod tests {
    use super::PostgresStore;
    use crate::register::Asset;
    use crate::store::prelude::*;
    use crate::store::{SqliteStore, unaudited};

    fn asset(tag: &str, lifecycle: &str, macs: &[&str]) -> Asset {
        serde_json::from_value(serde_json::json!({
            "tag": tag, "name": tag, "type": "server", "owner": "ops", "lifecycle": lifecycle,
            "macs": macs, "hostnames": [format!("{}.example", tag.to_ascii_lowercase())], "serial": "SN-X",
        }))
        .unwrap()
    }

    /// What one step answered, without times.
    fn script(store: &dyn Store) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |what: &str, v: String| out.push(format!("{what}: {v}"));
        let m = |n: u8| format!("00:1b:21:00:00:{n:02x}");
        let (m1, m2, m3) = (m(1), m(2), m(3));
        note(
            "create",
            format!("{:?}", store.create_asset(&asset("SRV-1", "deployed", &[&m1]), "ann", &mut unaudited())),
        );
        note("case", format!("{:?}", store.create_asset(&asset("srv-1", "deployed", &[&m2]), "ann", &mut unaudited())));
        note(
            "clash",
            format!("{:?}", store.create_asset(&asset("SRV-9", "deployed", &[&m1]), "ann", &mut unaudited())),
        );
        note("missing", format!("{:?}", store.update_asset(&asset("NOPE", "deployed", &[]), "bob", &mut unaudited())));
        let mut moved = asset("srv-1", "maintenance", &[&m2]);
        moved.owner = "it".into();
        // The MAC moves from SRV-1 to NEW-1 in one import: judged on the result.
        let imported = store.import_assets(
            &mut |_| {
                Some(vec![asset("NEW-1", "deployed", &[&m1]), moved.clone(), asset("new-1", "procurement", &[&m1])])
            },
            "ann",
            &mut unaudited(),
        );
        note("import", format!("{imported:?}"));
        let clash = store.import_assets(
            &mut |_| Some(vec![asset("A-1", "deployed", &[&m3]), asset("B-1", "deployed", &[&m3])]),
            "ann",
            &mut unaudited(),
        );
        note("import clash", format!("{clash:?}"));
        note("none", format!("{:?}", store.import_assets(&mut |_| None, "ann", &mut unaudited())));
        note("non-ascii", format!("{:?}", store.create_asset(&asset("É-1", "deployed", &[]), "ann", &mut unaudited())));
        note("folded", format!("{:?}", store.asset("é-1").map(|a| a.map(|a| a.tag))));
        note("any case", format!("{:?}", store.asset("new-1").map(|a| a.map(|a| a.tag))));
        // Re-imported unchanged: nothing written, and the keys stay (a MAC
        // an unchanged asset holds is still refused to another).
        let same = store.import_assets(&mut |cur| Some(cur.to_vec()), "ann", &mut unaudited());
        note("same", format!("{same:?}"));
        note(
            "after same",
            format!("{:?}", store.create_asset(&asset("C-1", "deployed", &[&m2]), "ann", &mut unaudited())),
        );
        note("delete", format!("{:?}", store.delete_asset("c-1", "bob", &mut unaudited())));
        note("delete again", format!("{:?}", store.delete_asset("C-1", "bob", &mut unaudited())));
        let mut changed = asset("NEW-1", "deployed", &[&m1, &m3]);
        changed.ips = vec!["192.0.2.7".parse().unwrap()];
        changed.external_ids = vec!["snipeit:7".into()];
        let last = store.import_assets(&mut |_| Some(vec![changed.clone()]), "ann", &mut unaudited());
        note("last import", format!("{last:?}"));
        note("assets", format!("{:?}", store.assets()));
        note("page", format!("{:?}", store.assets_page(Some("NEW-1"), 1).map(|v| v.len())));
        note("by tags", format!("{:?}", store.assets_by_tags(&["SRV-1".into(), "srv-1".into(), "C-1".into()])));
        for tag in ["srv-1", "NEW-1", "C-1", "A-1"] {
            let h = store
                .asset_history(tag)
                .map(|h| h.into_iter().map(|c| (c.actor, c.action, c.fields, c.lifecycle)).collect::<Vec<_>>());
            note(&format!("history {tag}"), format!("{h:?}"));
        }
        out
    }

    #[test]
    fn the_register_answers_as_sqlite_does() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("census.db")).unwrap();
        let pg = PostgresStore::open_scratch(&url).unwrap();
        let (want, got) = (script(&sqlite), script(&pg));
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(w, g);
        }
        assert_eq!(want.len(), got.len());
        // The lookup keys each leaves (an unchanged re-import keeps them, on both).
        const KEYS: &str = "SELECT kind, value, tag FROM asset_keys ORDER BY kind, value, tag";
        let pg_keys = pg
            .read(|tx| {
                let rows = tx.query(KEYS, &[])?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect::<Vec<(String, String, String)>>())
            })
            .unwrap();
        let sqlite_keys = sqlite
            .read(|c| {
                let mut st = c.prepare(KEYS)?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<Vec<(String, String, String)>, _>>()?)
            })
            .unwrap();
        assert_eq!(pg_keys, sqlite_keys);
        // Keyed tables: one id twice in a write keeps the last record, any case.
        for store in [&sqlite as &dyn Store, &pg] {
            let e = |id: &str, name: &str| crate::directory::DirectoryEntry::person(id, name, "file");
            store.write_directory(&mut |_| Some((vec![e("U1", "first"), e("u1 ", "last")], vec![]))).unwrap();
            let all = store.directory().unwrap();
            assert_eq!(all.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["last"]);
            store.write_sources(&mut |_| Some((vec![], vec![]))).unwrap();
            assert!(!store.remove_source("nope", vec![]).unwrap());
        }
    }
    /// The size the match index makes room for follows the table past its
    /// last analyse: a register analysed at 300 assets and grown to 3,000
    /// is estimated near 3,000 (the planner's way, rows a page times pages
    /// now), not at the 300 `reltuples` still says.
    #[test]
    fn the_register_size_hint_follows_growth_since_the_last_analyse() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let pg = PostgresStore::open_scratch(&url).unwrap();
        let import = |range: std::ops::Range<u32>| {
            let chunk: Vec<Asset> = range.map(|n| asset(&format!("A-{n:05}"), "deployed", &[])).collect();
            pg.import_assets(&mut |_| Some(chunk.clone()), "ann", &mut unaudited()).unwrap();
        };
        // Analysed here only (autovacuum would analyse a table growing tenfold).
        pg.run(|s| Ok(s.batch_execute("ALTER TABLE assets SET (autovacuum_enabled = false)")?)).unwrap();
        import(0..300);
        pg.run(|s| Ok(s.batch_execute("ANALYZE assets")?)).unwrap();
        import(300..3_000);
        let reltuples: f32 = pg
            .read(|tx| Ok(tx.query_one("SELECT reltuples FROM pg_class WHERE oid = 'assets'::regclass", &[])?.get(0)))
            .unwrap();
        assert_eq!(reltuples, 300.0);
        let hint = pg.register_size_hint().unwrap();
        assert!((2_400..=3_600).contains(&hint), "{hint}");
    }

    /// Each row's match keys as the index decodes them (`None`: a row left out).
    fn keys_of(page: Box<dyn crate::store::StoredPage>) -> Vec<Option<(crate::reconcile::identity::AssetKeys, i64)>> {
        (0..page.len()).map(|i| page.row(i).and_then(|r| r.keys())).collect()
    }

    /// The match index reads `assets.match_keys` (schema 7), which the
    /// server derives from the body: whatever a body holds, its keys read
    /// there as they read from the whole body — absent lists, every key
    /// field, and a NUL (`\u0000`) in another field, which PostgreSQL's JSON
    /// functions refuse and which must not make the asset unwritable.
    #[test]
    fn the_match_keys_column_reads_as_the_whole_body() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let pg = PostgresStore::open_scratch(&url).unwrap();
        let mut full = asset("A-FULL", "deployed", &["00:1b:21:00:00:01", "00:1b:21:00:00:02"]);
        full.ips = vec!["198.18.0.7".parse().unwrap(), "2001:2::7".parse().unwrap()];
        full.expected_segment = Some("198.18.0.0/24".parse().unwrap());
        pg.create_asset(&full, "ann", &mut unaudited()).unwrap();
        pg.run(|s| {
            s.batch_execute(
                r#"INSERT INTO assets (tag, body, lifecycle, updated_ms) VALUES
                   ('B-BARE', '{"tag":"B-BARE"}', 'deployed', 0),
                   ('C-NUL', '{"tag":"C-NUL","notes":"a\u0000b","macs":["00:1b:21:00:00:03"],"hostnames":["c.example"]}', 'deployed', 0),
                   ('D-NULL', '{"tag":"D-NULL","expected_segment":null,"ips":["198.18.0.9"]}', 'deployed', 0)"#,
            )?;
            Ok(())
        })
        .unwrap();
        let (keys, bodies) =
            (keys_of(pg.register_keys(None, 10).unwrap()), keys_of(pg.register_rows(None, 10).unwrap()));
        assert_eq!(keys.len(), 4);
        assert!(keys.iter().all(Option::is_some), "every row's keys decode: {keys:?}");
        assert_eq!(keys, bodies);
        let full_keys = keys[0].as_ref().map(|(k, _)| k.clone());
        assert_eq!(full_keys, Some(crate::reconcile::identity::AssetKeys::from(&full)));
        // The column follows every write of the body.
        full.macs.pop();
        full.hostnames.push("second.example".into());
        pg.update_asset(&full, "ann", &mut unaudited()).unwrap();
        let after = keys_of(pg.register_keys(None, 1).unwrap());
        assert_eq!(after[0].as_ref().map(|(k, _)| k.clone()), Some(crate::reconcile::identity::AssetKeys::from(&full)));
    }
    /// A database from before schema 7 (assets without `match_keys`) gets
    /// the column filled for every stored asset when it is migrated, and the
    /// match index reads the same keys from it as from the bodies.
    #[test]
    fn an_upgraded_register_has_match_keys_for_every_asset() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let pg = PostgresStore::open_scratch(&url).unwrap();
        pg.run(|s| {
            // Back to schema 6, with a register written then.
            s.batch_execute(
                r#"DROP TABLE turns;
                   ALTER TABLE assets DROP COLUMN match_keys;
                   DROP FUNCTION census_match_keys(TEXT);
                   UPDATE census_schema SET version = 6;
                   INSERT INTO assets (tag, body, lifecycle, updated_ms) VALUES
                   ('OLD-1', '{"tag":"OLD-1","macs":["00:1b:21:00:00:0a"],"ips":["198.18.0.10"],"hostnames":["old-1.example"],"expected_segment":"198.18.0.0/24"}', 'deployed', 0),
                   ('OLD-2', '{"tag":"OLD-2","notes":"x\u0000y"}', 'deployed', 0),
                   ('OLD-3', 'a damaged row, not JSON', 'deployed', 0)"#,
            )?;
            // Found by a review: with `standard_conforming_strings` off (a
            // database's or a session's setting) the function's `'\u0000'`
            // literal was an invalid escape, so the migration failed, and
            // later every write of an asset.
            s.batch_execute("SET standard_conforming_strings = off")?;
            super::super::schema::migrate(s)?;
            s.batch_execute(
                r#"INSERT INTO assets (tag, body, lifecycle, updated_ms) VALUES ('NEW-1', '{"tag":"NEW-1"}', 'deployed', 0)"#,
            )?;
            s.batch_execute("RESET standard_conforming_strings")?;
            let version: i64 = s.query_one("SELECT version FROM census_schema", &[])?.get(0);
            assert_eq!(version, super::super::schema::latest());
            // Found by a review: a body that does not parse failed the
            // migration (and would fail any write of it); it has no keys.
            let unfilled: Vec<String> =
                s.query("SELECT tag FROM assets WHERE match_keys IS NULL", &[])?.iter().map(|r| r.get(0)).collect();
            assert_eq!(unfilled, ["OLD-3"]);
            Ok(())
        })
        .unwrap();
        let (keys, bodies) =
            (keys_of(pg.register_keys(None, 10).unwrap()), keys_of(pg.register_rows(None, 10).unwrap()));
        assert_eq!(keys.len(), 4);
        assert_eq!(keys.iter().filter(|k| k.is_some()).count(), 3, "all but the damaged row: {keys:?}");
        assert_eq!(keys, bodies);
    }
}
