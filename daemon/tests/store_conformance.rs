//! The store conformance suite (`censusd::store::conformance`) against
//! SQLite: each check on a fresh database.

use std::sync::Arc;

use censusd::store::{SqliteStore, Store};

#[test]
fn sqlite_passes_every_conformance_check() {
    for (name, check) in censusd::store::conformance::CHECKS {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
        println!("conformance: {name}");
        check(store);
    }
}
