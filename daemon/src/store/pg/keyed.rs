//! PostgreSQL: tables of whole records as JSON keyed by an id without regard
//! to ASCII case — the people directory, the licence entitlements, the
//! retirement records and the coverage sources (as `store/sqlite/keyed.rs`;
//! table names, keys and encoding from [`crate::store::shared::assets`]).
//!
//! Nothing reads a single field of them but the table as a whole, which is
//! loaded once per change, in byte order of keys (`key` is `COLLATE "C"`).
//! A change is written with one array statement; a key given twice in one
//! change keeps its last record, as SQLite's row-by-row upsert does.

use std::collections::HashMap;

use postgres::types::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Tx, audit};
use crate::store::shared::assets as shared;
use crate::store::{KeyedBuild, StoreError};

pub(super) use crate::store::shared::assets::Keyed;

/// Every record of `t`, by key (records that do not decode left out, with a warning).
///
/// # Errors
/// [`StoreError::Db`] when the read fails.
pub(super) fn all<T: DeserializeOwned>(tx: &mut Tx<'_>, t: Keyed) -> Result<Vec<T>, StoreError> {
    let rows = tx.query(&format!("SELECT key, body FROM {} ORDER BY key", t.table()), &[])?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (key, body): (&str, &str) = (r.try_get(0)?, r.try_get(1)?);
        out.extend(shared::decode_record(t, key, body));
    }
    Ok(out)
}

/// Apply a change in the caller's transaction: `build` sees the table as
/// read inside it and returns the records to write and their audit
/// records; `id` gives a record's id. Returns whether anything was written.
///
/// # Errors
/// [`StoreError::Db`] when a statement fails or a record does not encode
/// (the caller's transaction then rolls back).
pub(super) fn apply<T: DeserializeOwned + Serialize>(
    tx: &mut Tx<'_>,
    t: Keyed,
    id: fn(&T) -> &str,
    build: KeyedBuild<'_, T>,
) -> Result<bool, StoreError> {
    let current = all(tx, t)?;
    let Some((write, entries)) = build(&current) else { return Ok(false) };
    // One row per key, the last record given for it (an upsert may not touch a row twice).
    let mut keys: Vec<String> = Vec::with_capacity(write.len());
    let mut bodies: Vec<String> = Vec::with_capacity(write.len());
    let mut at: HashMap<String, usize> = HashMap::with_capacity(write.len());
    for e in &write {
        let (key, body) = (shared::record_key(id(e)), shared::encode_record(e)?);
        match at.get(&key) {
            Some(&i) => bodies[i] = body,
            None => {
                at.insert(key.clone(), keys.len());
                keys.push(key);
                bodies.push(body);
            }
        }
    }
    if !keys.is_empty() {
        tx.execute_typed(
            &format!(
                "INSERT INTO {} (key, body) SELECT * FROM unnest($1::TEXT[], $2::TEXT[])
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                t.table()
            ),
            &[(&keys, Type::TEXT_ARRAY), (&bodies, Type::TEXT_ARRAY)],
        )?;
    }
    audit::append(tx, &entries)?;
    Ok(!write.is_empty())
}

/// Remove the record keyed `key` (compared without regard to ASCII case) in
/// the caller's transaction; false when there was none.
///
/// # Errors
/// [`StoreError::Db`] when the delete fails.
pub(super) fn remove(tx: &mut Tx<'_>, t: Keyed, key: &str) -> Result<bool, StoreError> {
    let n = tx.execute(&format!("DELETE FROM {} WHERE key = $1", t.table()), &[&shared::record_key(key)])?;
    Ok(n > 0)
}
