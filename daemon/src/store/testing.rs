//! A fresh store for tests, on the backend the environment names: SQLite in
//! the test's directory by default; with `CENSUS_TEST_POSTGRES` set to a
//! PostgreSQL URL (`.ci/run` starts a throwaway server and sets it), a
//! schema of its own on that server, dropped when the store is.

use std::path::Path;
use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store, StoreError, StoreLocation};

/// The environment variable naming the PostgreSQL server tests use.
pub const POSTGRES_ENV: &str = "CENSUS_TEST_POSTGRES";

/// The PostgreSQL server tests run against, when one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// A fresh, empty store: SQLite at `dir/census.db`, or a new schema on the
/// server of [`POSTGRES_ENV`].
///
/// # Errors
/// What opening the backend returns.
pub fn fresh(dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match postgres_url() {
        Some(url) => Arc::new(PostgresStore::open_scratch(&url)?),
        None => Arc::new(SqliteStore::open(&dir.join("census.db"))?),
    })
}

/// Where a fresh store for a daemon process lives: SQLite at `dir/census.db`,
/// or a new, empty schema on the server of [`POSTGRES_ENV`] (a URL whose
/// connections use it; the schema is left for the server's teardown).
///
/// # Errors
/// When the PostgreSQL server cannot be reached.
pub fn fresh_location(dir: &Path) -> Result<StoreLocation, StoreError> {
    Ok(match postgres_url() {
        Some(url) => StoreLocation::Postgres(super::pg::scratch_schema_url(&url)?),
        None => StoreLocation::Sqlite(dir.join("census.db")),
    })
}

/// `url` with a new, empty schema of the server as its search path: an
/// empty database of its own for one test (left for the server's teardown).
///
/// # Errors
/// When `url` does not parse or the server cannot be reached.
pub fn scratch_url(url: &str) -> Result<String, StoreError> {
    super::pg::scratch_schema_url(url)
}
