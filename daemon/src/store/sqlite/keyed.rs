//! SQLite: tables of whole records as JSON keyed by an id without regard
//! to ASCII case — the people directory, the licence entitlements, the
//! retirement records and the coverage sources.
//! Nothing reads a single field of them but the table as a whole, which is
//! loaded once per change.

use rusqlite::params;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::audit;
use crate::store::StoreError;

/// The tables this module keeps (names come from here, never from input).
#[derive(Debug, Clone, Copy)]
pub enum Keyed {
    /// `directory`: people and teams.
    Directory,
    /// `entitlements`: licences bought.
    Entitlements,
    /// `retirements`: wipe attestations, verified and forced disposals.
    Retirements,
    /// `sources`: coverage sources, each with its last loaded list.
    Sources,
}

impl Keyed {
    fn table(self) -> &'static str {
        match self {
            Keyed::Directory => "directory",
            Keyed::Entitlements => "entitlements",
            Keyed::Retirements => "retirements",
            Keyed::Sources => "sources",
        }
    }
}

/// Every record, by key.
pub fn all<T: DeserializeOwned>(c: &rusqlite::Connection, t: Keyed) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT key, body FROM {} ORDER BY key", t.table()))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body) = row?;
        match serde_json::from_str(&body) {
            Ok(e) => out.push(e),
            // A row written by a newer version, or damaged: kept in the table, skipped here.
            Err(e) => tracing::warn!(table = t.table(), key, error = %e, "a record does not decode; left out"),
        }
    }
    Ok(out)
}

/// Apply a change in the caller's transaction: `build` sees the table as
/// read inside it and returns the records to write and their audit
/// records; `id` gives a record's id. Returns whether anything was written.
pub fn apply<T: DeserializeOwned + Serialize>(
    tx: &rusqlite::Transaction<'_>,
    t: Keyed,
    id: fn(&T) -> &str,
    build: crate::store::KeyedBuild<'_, T>,
) -> Result<bool, StoreError> {
    let current = all(tx, t)?;
    let Some((write, entries)) = build(&current) else { return Ok(false) };
    let mut st = tx.prepare_cached(&format!(
        "INSERT INTO {} (key, body) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET body = excluded.body",
        t.table()
    ))?;
    for e in &write {
        let body = serde_json::to_string(e).map_err(|e| StoreError::Db(e.to_string()))?;
        st.execute(params![id(e).trim().to_ascii_lowercase(), body])?;
    }
    audit::append(tx, &entries)?;
    Ok(!write.is_empty())
}

/// Remove the record keyed `key` (compared without regard to ASCII case) in
/// the caller's transaction; false when there was none.
pub fn remove(tx: &rusqlite::Transaction<'_>, t: Keyed, key: &str) -> Result<bool, StoreError> {
    let n = tx.execute(&format!("DELETE FROM {} WHERE key = ?1", t.table()), [key.trim().to_ascii_lowercase()])?;
    Ok(n > 0)
}
