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
use crate::store::shared::assets as shared;

pub use crate::store::shared::assets::Keyed;

/// Every record, by key.
pub fn all<T: DeserializeOwned>(c: &rusqlite::Connection, t: Keyed) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT key, body FROM {} ORDER BY key", t.table()))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body) = row?;
        out.extend(shared::decode_record(t, &key, &body));
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
        st.execute(params![shared::record_key(id(e)), shared::encode_record(e)?])?;
    }
    audit::append(tx, &entries)?;
    Ok(!write.is_empty())
}

/// Remove the record keyed `key` (compared without regard to ASCII case) in
/// the caller's transaction; false when there was none.
pub fn remove(tx: &rusqlite::Transaction<'_>, t: Keyed, key: &str) -> Result<bool, StoreError> {
    let n = tx.execute(&format!("DELETE FROM {} WHERE key = ?1", t.table()), [shared::record_key(key)])?;
    Ok(n > 0)
}
