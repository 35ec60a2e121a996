//! The store conformance suite (`censusd::store::conformance`) against
//! SQLite, and against PostgreSQL when `CENSUS_TEST_POSTGRES` names a server
//! (`.ci/run` starts one and sets `CENSUS_REQUIRE_POSTGRES=1`, so there the
//! PostgreSQL half cannot be skipped): each check on a fresh database.

use std::sync::Arc;

use censusd::store::{PostgresStore, SqliteStore, Store};

#[test]
fn sqlite_passes_every_conformance_check() {
    for (name, check) in censusd::store::conformance::CHECKS {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
        println!("conformance: {name}");
        check(store);
    }
}

#[test]
fn postgres_passes_every_conformance_check() {
    let Some(url) = censusd::store::testing::postgres_url() else {
        assert!(
            std::env::var_os("CENSUS_REQUIRE_POSTGRES").is_none(),
            "CENSUS_REQUIRE_POSTGRES is set but CENSUS_TEST_POSTGRES names no server"
        );
        eprintln!("skipped: CENSUS_TEST_POSTGRES is not set");
        return;
    };
    // CENSUS_CONFORMANCE_ONLY=PREFIX runs the checks whose name starts so (while building a backend).
    let only = std::env::var("CENSUS_CONFORMANCE_ONLY").ok();
    for (name, check) in censusd::store::conformance::CHECKS {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let store: Arc<dyn Store> = Arc::new(PostgresStore::open_scratch(&url).unwrap());
        println!("conformance (PostgreSQL): {name}");
        check(store);
    }
}
