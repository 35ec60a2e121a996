//! SQLite: the people directory, one row per entry keyed by its id without
//! regard to ASCII case, the entry as JSON (nothing reads a single field of
//! it but the directory as a whole, which is loaded once per change).

use rusqlite::params;

use super::audit;
use crate::directory::{DirectoryEntry, id_key};
use crate::store::StoreError;

/// Every entry, by id key.
pub fn all(c: &rusqlite::Connection) -> Result<Vec<DirectoryEntry>, StoreError> {
    let mut st = c.prepare_cached("SELECT key, body FROM directory ORDER BY key")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body) = row?;
        match serde_json::from_str(&body) {
            Ok(e) => out.push(e),
            // A row written by a newer version, or damaged: kept in the table, skipped here.
            Err(e) => tracing::warn!(key, error = %e, "a directory entry does not decode; left out"),
        }
    }
    Ok(out)
}

/// Apply a change in the caller's transaction: `build` sees the directory
/// as read inside it. Returns whether anything was written.
pub fn apply(tx: &rusqlite::Transaction<'_>, build: crate::store::DirectoryBuild<'_>) -> Result<bool, StoreError> {
    let current = all(tx)?;
    let Some((write, entries)) = build(&current) else { return Ok(false) };
    let mut st = tx.prepare_cached(
        "INSERT INTO directory (key, body) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET body = excluded.body",
    )?;
    for e in &write {
        let body = serde_json::to_string(e).map_err(|e| StoreError::Db(e.to_string()))?;
        st.execute(params![id_key(&e.id), body])?;
    }
    audit::append(tx, &entries)?;
    Ok(!write.is_empty())
}
