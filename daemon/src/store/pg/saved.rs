//! PostgreSQL: people's saved searches, per person and page, replaced by
//! name and capped per person (the cap checked in the write transaction).

use super::PostgresStore;
use crate::store::{SavedQuery, SavedQueryStore, StoreError};

impl SavedQueryStore for PostgresStore {
    fn saved_queries(&self, person: &str) -> Result<Vec<SavedQuery>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT person, page, name, query, saved_ms FROM saved_queries WHERE person = $1
                 ORDER BY page COLLATE \"C\", name COLLATE \"C\"",
                &[&person],
            )?;
            Ok(rows
                .iter()
                .map(|r| SavedQuery {
                    person: r.get(0),
                    page: r.get(1),
                    name: r.get(2),
                    query: r.get(3),
                    saved_ms: r.get(4),
                })
                .collect())
        })
    }

    fn save_query(&self, q: &SavedQuery, cap: usize) -> Result<(), StoreError> {
        self.write(|tx| {
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM saved_queries WHERE person = $1 AND page = $2 AND name = $3",
                    &[&q.person, &q.page, &q.name],
                )?
                .is_some();
            let count: i64 = tx.query_one("SELECT count(*) FROM saved_queries WHERE person = $1", &[&q.person])?.get(0);
            crate::store::shared::people::room_for_saved_query(exists, count, cap)?;
            tx.execute(
                "INSERT INTO saved_queries (person, page, name, query, saved_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (person, page, name) DO UPDATE SET query = excluded.query, saved_ms = excluded.saved_ms",
                &[&q.person, &q.page, &q.name, &q.query, &q.saved_ms],
            )?;
            Ok(())
        })
    }

    fn delete_saved_query(&self, person: &str, page: &str, name: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM saved_queries WHERE person = $1 AND page = $2 AND name = $3",
                &[&person, &page, &name],
            )?;
            Ok(n > 0)
        })
    }
}
