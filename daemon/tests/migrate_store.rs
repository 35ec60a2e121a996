//! `censusd migrate-store`: a SQLite store with a register, sweeps, alerts
//! (one acted on), a suppression, people, tokens, audit records, saved
//! queries and an outbox is copied to PostgreSQL, and PostgreSQL then
//! answers every question as SQLite did; a second copy onto the filled
//! database is refused and changes nothing. Needs `CENSUS_TEST_POSTGRES`
//! (`.ci/run` starts a server and sets it).

mod scenario;

use census_proto::NameSource;
use censusd::alerts::{AlertAction, AlertFilter, SuppressionInput};
use censusd::audit::AuditFilter;
use censusd::people::{Principal, Role};
use censusd::store::migrate::sqlite_to_postgres;
use censusd::store::{PostgresStore, SavedQuery, Store, StoreError};
use scenario::{DAY, HOUR, LAB, Scenario, T0, h};
use serde_json::json;

fn server(tag: &str, mac: &str, lifecycle: &str) -> serde_json::Value {
    json!({ "tag": tag, "name": format!("{tag} server"), "type": "server", "owner": "ops", "lifecycle": lifecycle,
            "lifecycle_since": "2026-01-01", "macs": [mac], "expected_segment": "198.18.0.0/24" })
}

/// Everything a reviewer reads, from one store, in comparable form.
fn everything(store: &dyn Store) -> serde_json::Value {
    let alerts = store.alerts(&AlertFilter { limit: Some(10_000), ..Default::default() }).unwrap();
    let histories: Vec<_> = alerts.iter().map(|a| store.alert_history(a.id).unwrap()).collect();
    let assets = store.assets().unwrap();
    let asset_histories: Vec<_> =
        assets.iter().map(|a| format!("{:?}", store.asset_history(&a.tag).unwrap())).collect();
    json!({
        "assets": assets,
        "asset_histories": asset_histories,
        "alerts": alerts,
        "alert_histories": histories,
        "suppressions": store.suppressions(false).unwrap(),
        "people": store.people().unwrap(),
        "audit": store.audit(&AuditFilter { limit: 10_000, ..Default::default() }).unwrap(),
        "saved": format!("{:?}", store.saved_queries("alice").unwrap()),
        "agents": format!("{:?}", store.agents().unwrap()),
        "outbox": store.outbox_backlog().unwrap(),
        "devices": format!("{:?}", {
            let mut d: Vec<_> = store.devices(None, 0).unwrap().into_iter().collect();
            d.sort_by(|a, b| a.0.cmp(&b.0));
            d
        }),
    })
}

#[test]
fn migrate_store_copies_everything_and_never_over_data() {
    let Some(url) = censusd::store::testing::postgres_url() else {
        assert!(std::env::var_os("CENSUS_REQUIRE_POSTGRES").is_none(), "CENSUS_REQUIRE_POSTGRES without a server");
        eprintln!("skipped: CENSUS_TEST_POSTGRES is not set");
        return;
    };
    // A SQLite store that has lived a little.
    let s = Scenario::sqlite();
    s.register(json!([
        server("SRV-1", "00:1b:21:aa:00:01", "deployed"),
        server("OLD-1", "00:1b:21:aa:00:02", "decommissioned"),
    ]));
    let hosts = [
        h("198.18.0.10", "00:1b:21:aa:00:01").named("srv-1.lab", NameSource::Ptr),
        h("198.18.0.11", "00:1b:21:aa:00:02"),
        h("198.18.0.50", "00:1b:21:aa:00:09").named("kiosk.lab", NameSource::Mdns),
    ];
    for i in 0..3 {
        s.sweep(&LAB, T0 + i * HOUR, &hosts);
    }
    let open = s.all();
    assert!(open.len() >= 2, "an unknown asset and a decommissioned one answering: {open:?}");
    s.act(open[0].id, AlertAction::Acknowledge);
    s.suppress(
        SuppressionInput {
            vendor: Some("apple".into()),
            reason: "lab phones".into(),
            expires_in: "7d".into(),
            ..Default::default()
        },
        T0 + DAY,
    );
    let admin = Principal::builtin_admin();
    censusd::app::people::add(
        s.store.as_ref(),
        &admin,
        "alice",
        Role::Analyst,
        Some("correct horse battery".into()),
        T0,
    )
    .unwrap();
    censusd::app::people::create_token(s.store.as_ref(), &admin, "alice", "laptop", Some(30), T0).unwrap();
    s.store
        .save_query(
            &SavedQuery {
                person: "alice".into(),
                page: "queue".into(),
                name: "open".into(),
                query: "state=open".into(),
                saved_ms: T0,
            },
            50,
        )
        .unwrap();
    let before = everything(s.store.as_ref());
    let whois_before = serde_json::to_value(s.whois("198.18.0.11", T0 + DAY)).unwrap();
    // The daemon stops before the copy (docs/postgresql.md): its store closes,
    // so the source is a WAL database without -wal and -shm files, and is
    // only read.
    let mut s = s;
    let dir = std::mem::replace(&mut s._dir, tempfile::tempdir().unwrap());
    drop(s);
    let source = dir.path().join("census.db");
    let source_before = std::fs::read(&source).unwrap();

    // Copied: every table's count checked, and every answer the same.
    let target = censusd::store::testing::scratch_url(&url).unwrap();
    let report = sqlite_to_postgres(&source, &target).unwrap();
    assert_eq!(std::fs::read(&source).unwrap(), source_before, "the source is only read");
    let rows = |t: &str| report.tables.iter().find(|(n, _)| n == t).map(|(_, n)| *n);
    assert_eq!(rows("assets"), Some(2));
    assert_eq!(rows("alerts"), Some(open.len() as i64));
    assert!(rows("observations").unwrap_or(0) >= 9, "{report:?}");
    assert!(rows("audit").unwrap_or(0) >= 2, "{report:?}");
    let pg: std::sync::Arc<dyn Store> = std::sync::Arc::new(PostgresStore::open(&target).unwrap());
    assert_eq!(everything(pg.as_ref()), before);
    let on_pg = Scenario::on(pg.clone(), tempfile::tempdir().unwrap(), Default::default());
    assert_eq!(serde_json::to_value(on_pg.whois("198.18.0.11", T0 + DAY)).unwrap(), whois_before);

    // Work goes on in PostgreSQL: new rows take new ids (the sequences moved on).
    on_pg.sweep(&LAB, T0 + 2 * DAY, &hosts);
    on_pg.register(json!([server("NEW-1", "00:1b:21:aa:00:09", "deployed")]));
    on_pg.sweep(&LAB, T0 + 2 * DAY + HOUR, &hosts);
    let after = on_pg.all();
    let mut ids: Vec<_> = after.iter().map(|a| a.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), after.len(), "ids unique after the copy");
    assert!(pg.asset("NEW-1").unwrap().is_some());

    // Never over data: a second copy is refused, naming a table, and changes nothing.
    let filled = everything(pg.as_ref());
    match sqlite_to_postgres(&source, &target) {
        Err(StoreError::Refused(m)) => assert!(m.contains("already holds data"), "{m}"),
        other => panic!("a copy onto a filled database must be refused: {other:?}"),
    }
    assert_eq!(everything(pg.as_ref()), filled);
}

/// The source is only read: a file that is not a Census store (empty, or
/// another application's database) is refused, naming it, and left as it
/// was — never turned into a Census store (found by a break attempt).
#[test]
fn migrate_store_refuses_what_is_not_a_census_store_and_never_writes_it() {
    let Some(url) = censusd::store::testing::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)").unwrap();
    let other_before = std::fs::read(&other).unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just words in a file").unwrap();
    let target = censusd::store::testing::scratch_url(&url).unwrap();
    for (file, says) in
        [(&empty, "not a Census store"), (&other, "not a Census store"), (&text, "not a SQLite database")]
    {
        match sqlite_to_postgres(file, &target) {
            Err(StoreError::Refused(m)) => {
                assert!(m.contains(says) && m.contains(&file.display().to_string()), "{m}")
            }
            other => panic!("{}: {other:?}", file.display()),
        }
    }
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "the empty file stays empty");
    assert_eq!(std::fs::read(&other).unwrap(), other_before, "another application's database is untouched");
    match sqlite_to_postgres(dir.path(), &target) {
        Err(StoreError::Io(m)) => assert!(m.contains("not a file"), "{m}"),
        other => panic!("a directory: {other:?}"),
    }
}

/// Arguments `migrate-store` cannot use are a usage error (exit code 2, as
/// clap's own, and as `--help` says), named, with nothing opened and no
/// password shown (regression: they exited 1, as a failed copy does).
#[test]
fn migrate_store_misuse_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("census.db");
    let cases: [(&str, &str, &str); 4] = [
        ("census.db", "postgres://census@/census?host=/run/postgresql", "--from: expected sqlite:PATH"),
        ("sqlite:census.db", "mysql://u:S3cretPW@h/d", "--to: expected a postgres://"),
        ("sqlite:census.db", "postgres://u:S3cret/PW@h/d", "--to:"),
        ("sqlite:census.db", "postgres://u:S3cretPW@h/d?sslmode=verify-ca", "--to:"),
    ];
    for (from, to, says) in cases {
        let from = from.replace("census.db", &db.display().to_string());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_censusd"))
            .args(["migrate-store", "--from", &from, "--to", to])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from} {to}: {err}");
        assert!(err.contains(says), "{from} {to}: {err}");
        assert!(!err.contains("S3cret"), "no password shown: {err}");
        assert!(!db.exists(), "nothing opened or created");
    }
}
