//! People's saved searches in SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::{SavedQuery, SavedQueryStore, StoreError};

impl SavedQueryStore for SqliteStore {
    fn saved_queries(&self, person: &str) -> Result<Vec<SavedQuery>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT person, page, name, query, saved_ms FROM saved_queries WHERE person = ?1 ORDER BY page, name",
            )?;
            let rows = st.query_map([person], |r| {
                Ok(SavedQuery {
                    person: r.get(0)?,
                    page: r.get(1)?,
                    name: r.get(2)?,
                    query: r.get(3)?,
                    saved_ms: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn save_query(&self, q: &SavedQuery, cap: usize) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM saved_queries WHERE person = ?1 AND page = ?2 AND name = ?3",
                    params![q.person, q.page, q.name],
                    |r| r.get(0),
                )
                .optional()?;
            let count: i64 =
                tx.query_row("SELECT count(*) FROM saved_queries WHERE person = ?1", [&q.person], |r| r.get(0))?;
            crate::store::shared::people::room_for_saved_query(exists.is_some(), count, cap)?;
            tx.execute(
                "INSERT INTO saved_queries (person, page, name, query, saved_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (person, page, name) DO UPDATE SET query = excluded.query, saved_ms = excluded.saved_ms",
                params![q.person, q.page, q.name, q.query, q.saved_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn delete_saved_query(&self, person: &str, page: &str, name: &str) -> Result<bool, StoreError> {
        self.write(|c| {
            let n = c.execute(
                "DELETE FROM saved_queries WHERE person = ?1 AND page = ?2 AND name = ?3",
                params![person, page, name],
            )?;
            Ok(n > 0)
        })
    }
}
