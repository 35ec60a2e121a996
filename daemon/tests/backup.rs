//! `censusd backup FILE` (#15 item 3): a consistent, checked copy of the
//! live database taken while agents deliver, never over an existing file,
//! private, and a database a daemon opens.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use censusd::store::{AgentStore, ObservationStore, SqliteStore, StoreError};
use common::Daemon;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_ingest_is_one_consistent_checked_snapshot() {
    let d = Daemon::start().await;
    let db = d.dir.path().join("census.db");
    let token = d.add_agent("lab-1", &["198.18.0.0/24"]).await;
    let ips: Vec<String> = (1..=50).map(|i| format!("198.18.0.{i}")).collect();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    let deliver = || {
        let body = census_proto::encode_batch(&common::batch("lab-1", &ips));
        d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body))
    };
    for _ in 0..5 {
        assert_eq!(deliver().await.status(), 200);
    }
    // Agents keep delivering while three backups are taken.
    let copies: Vec<_> = (0..3).map(|i| d.dir.path().join(format!("copy-{i}.db"))).collect();
    let backups = {
        let (db, copies) = (db.clone(), copies.clone());
        tokio::task::spawn_blocking(move || {
            copies
                .iter()
                .map(|c| {
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    censusd::store::backup::to_file(&db, c)
                })
                .collect::<Vec<_>>()
        })
    };
    let mut delivered = 5;
    while !backups.is_finished() {
        assert_eq!(deliver().await.status(), 200);
        delivered += 1;
        assert!(delivered < 2_000, "the backups did not finish");
    }
    let reports = backups.await.unwrap();
    assert!(delivered > 6, "ingest went on during the backups ({delivered} batches)");
    for (copy, report) in copies.iter().zip(reports) {
        let report = report.unwrap();
        let of = |t: &str| report.tables.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(of("agents"), 1);
        assert!(
            of("observations") >= 250 && of("observations") % 50 == 0,
            "whole batches only: {}",
            of("observations")
        );
        assert_eq!(of("batches") * 50, of("observations"), "every batch with all its observations");
        assert_eq!(std::fs::metadata(copy).unwrap().permissions().mode() & 0o777, 0o600);
        // The copy is a database censusd opens, holding what the report says.
        let store = SqliteStore::open(copy).unwrap();
        assert_eq!(store.observation_count().unwrap(), of("observations"));
        assert_eq!(store.agents().unwrap().len(), 1);
    }
    // Never over an existing file: refused, the file left as it was.
    let before = std::fs::read(&copies[0]).unwrap();
    let err = censusd::store::backup::to_file(&db, &copies[0]).unwrap_err();
    assert!(matches!(&err, StoreError::Refused(m) if m.contains("already exists")), "{err}");
    assert_eq!(std::fs::read(&copies[0]).unwrap(), before);
    let err = censusd::store::backup::to_file(&db, &db).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // A directory that is not there: named, nothing left behind.
    let missing = d.dir.path().join("no-such-dir/copy.db");
    let err = censusd::store::backup::to_file(&db, &missing).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    let err =
        censusd::store::backup::to_file(&d.dir.path().join("absent.db"), &d.dir.path().join("new.db")).unwrap_err();
    assert!(err.to_string().contains("no database at"), "{err}");
    let left: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    d.stop().await;
}

#[test]
fn the_cli_backs_up_the_configured_database_and_says_what_it_copied() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("census.db");
    drop(SqliteStore::open(&db).unwrap());
    let cfg = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\ndatabase = \"{}\"\n[auth]\nadmin_token_file = \"{}\"\n",
            db.display(),
            dir.path().join("admin.token").display()
        ),
    )
    .unwrap();
    let run = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_censusd"))
            .args(["--config", cfg.to_str().unwrap(), "backup", file])
            .output()
            .unwrap()
    };
    let copy = dir.path().join("nightly.db");
    let out = run(copy.to_str().unwrap());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("backed up") && said.contains("0 assets") && said.contains("checked"), "{said}");
    let again = run(copy.to_str().unwrap());
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
