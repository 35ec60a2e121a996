//! A database that cannot be reached is an outage, not a fault of the
//! daemon's: every API call it stops answers `503 Service Unavailable` with
//! `Retry-After` (as `/healthz` does), nothing is half-written, and the
//! daemon serves again by itself once the database is back.
//!
//! Regression (break attempt, 2026-12-05): with PostgreSQL stopped, API
//! calls answered `500 internal storage error` while `/healthz` said 503 —
//! callers (agents, scripts, a load balancer's retry policy) could not tell
//! a database outage from a bug. Run on SQLite (another process holding the
//! file's write lock past the busy timeout) and, with `CENSUS_TEST_POSTGRES`,
//! on PostgreSQL (the daemon's database refusing connections and its
//! sessions terminated).

mod common;

use std::sync::Arc;

use common::{ADMIN, Daemon};
use reqwest::Method;
use serde_json::json;

/// Makes the daemon's database unreachable and back, on either backend.
enum Outage {
    /// Another connection holds SQLite's write lock while `Some`.
    Sqlite { path: std::path::PathBuf, holder: Option<rusqlite::Connection> },
    /// A database of the test's own on the test server; `admin` is a URL
    /// to the server's usual database, from which it is switched off and on.
    Postgres { admin: String, db: String },
}

impl Outage {
    fn store(dir: &std::path::Path) -> (Outage, Arc<dyn censusd::store::Store>) {
        match censusd::store::testing::postgres_url() {
            None => {
                let path = dir.join("census.db");
                let store = Arc::new(censusd::store::SqliteStore::open(&path).unwrap());
                (Outage::Sqlite { path, holder: None }, store)
            }
            Some(admin) => {
                let db = format!("census_outage_{}", std::process::id());
                sql(&admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap();
                sql(&admin, &format!("CREATE DATABASE {db}")).unwrap();
                let url = with_database(&admin, &db);
                let store =
                    std::thread::spawn(move || censusd::store::PostgresStore::open(&url).unwrap()).join().unwrap();
                let store = Arc::new(store);
                (Outage::Postgres { admin, db }, store)
            }
        }
    }

    fn begin(&mut self) {
        match self {
            Outage::Sqlite { path, holder } => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch("BEGIN EXCLUSIVE").unwrap();
                *holder = Some(c);
            }
            Outage::Postgres { admin, db } => {
                sql(
                    admin,
                    &format!(
                        "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
                         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
                    ),
                )
                .unwrap();
            }
        }
    }

    fn end(&mut self) {
        match self {
            Outage::Sqlite { holder, .. } => {
                if let Some(c) = holder.take() {
                    c.execute_batch("ROLLBACK").unwrap();
                }
            }
            Outage::Postgres { admin, db } => {
                sql(admin, &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).unwrap();
            }
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Outage::Postgres { admin, db } = self {
            let _ = sql(admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

/// Run `statements` on the server at `url`, on a thread of its own (the
/// blocking driver may not run on the test's async runtime).
fn sql(url: &str, statements: &str) -> Result<(), postgres::Error> {
    let (url, statements) = (url.to_string(), statements.to_string());
    std::thread::spawn(move || postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&statements))
        .join()
        .unwrap()
}

/// `url` (`postgres://who@host/db?…`) naming database `db` instead.
fn with_database(url: &str, db: &str) -> String {
    let rest_at = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[rest_at..];
    let path_at = rest.find('/').unwrap_or(rest.len());
    let query_at = rest.find('?').unwrap_or(rest.len());
    let authority_end = path_at.min(query_at);
    format!("{}{}/{db}{}", &url[..rest_at], &rest[..authority_end], &rest[query_at..])
}

async fn call(d: &Daemon, method: Method, path: &str, token: &str, body: Vec<u8>) -> (u16, Option<String>, String) {
    let r = d.req(method, path, Some(token), Some(body)).await;
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, retry, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_with_retry_after_and_the_daemon_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (mut outage, store) = Outage::store(dir.path());
    let d = Daemon::start_on(
        dir,
        store,
        1 << 20,
        &censusd::config::ReconcileConfig::default(),
        &censusd::config::NotifyConfig::default(),
        |_| {},
    )
    .await;
    let token = d.add_agent("lab-1", &["198.18.0.0/24"]).await;
    let asset = move |tag: &str| {
        json!({"tag": tag, "name": tag, "type": "server", "owner": "ops", "lifecycle": "deployed"})
            .to_string()
            .into_bytes()
    };
    let (status, _, text) = call(&d, Method::POST, "/api/v1/assets", ADMIN, asset("SRV-1")).await;
    assert_eq!(status, 201, "{text}");
    let ann = json!({"name": "ann", "role": "analyst", "password": "a long enough password"});
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(ann)).await.0, 201);

    outage.begin();
    let batch = census_proto::encode_batch(&common::batch("lab-1", &["198.18.0.7"]));
    // At once: each waits out the store's own timeout before it is answered.
    let (edit, delivery) = tokio::join!(
        call(&d, Method::POST, "/api/v1/assets", ADMIN, asset("SRV-2")),
        call(&d, Method::POST, "/api/v1/batches", &token, batch.clone()),
    );
    for (what, (status, retry, text)) in [("a register edit", edit), ("an agent's delivery", delivery)] {
        assert_eq!(status, 503, "{what}: {text}");
        assert_eq!(retry.as_deref(), Some("5"), "{what}: Retry-After");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"].as_str().unwrap().contains("database is unavailable"), "{what}: {v}");
        // The cause goes to the log, not to the caller.
        assert!(!text.contains("census_outage") && !text.contains("SQLITE"), "{what}: {text}");
    }
    // On PostgreSQL the health check agrees; SQLite's file still answers
    // reads (WAL) while another process holds its write lock, and so does it.
    // A wrong password whose failure cannot be recorded is not answered
    // "wrong": the sign-in throttle counts those records, so guesses would
    // go uncounted for as long as the database is unavailable.
    let guess = json!({"name": "ann", "password": "not her password at all"}).to_string().into_bytes();
    let r = d.req(Method::POST, "/api/v1/login", None, Some(guess)).await;
    assert_eq!(r.status().as_u16(), 503, "{}", r.text().await.unwrap());
    // Many callers at once each get their answer in bounded time — not one
    // store timeout after another while they queue for SQLite's one writer
    // (break attempt: the eighth of eight waited 80 s).
    let t = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (http, base, token) = (d.http.clone(), d.base.clone(), token.clone());
        let body = asset(&format!("Q-{i}"));
        calls.spawn(async move {
            // Half register edits, half agents' deliveries (each a batch of its own).
            let r = if i % 2 == 0 {
                http.post(format!("{base}/api/v1/assets")).bearer_auth(ADMIN).body(body)
            } else {
                let b = census_proto::encode_batch(&common::batch("lab-1", &["198.18.0.8"]));
                http.post(format!("{base}/api/v1/batches")).bearer_auth(token).body(b)
            };
            r.send().await.unwrap().status().as_u16()
        });
    }
    let statuses: Vec<u16> = calls.join_all().await;
    assert_eq!(statuses, [503; 8]);
    assert!(t.elapsed() < std::time::Duration::from_secs(40), "eight writes answered in {:?}", t.elapsed());
    let health = d.http.get(format!("{}/healthz", d.base)).send().await.unwrap();
    let expected = if matches!(outage, Outage::Postgres { .. }) { 503 } else { 200 };
    assert_eq!(health.status().as_u16(), expected, "the health check");
    outage.end();

    // Back by itself: the edit and the delivery refused during the outage
    // now go through once, and nothing of the refused ones was kept.
    let mut answered = None;
    for _ in 0..100 {
        let (status, _, text) = call(&d, Method::POST, "/api/v1/assets", ADMIN, asset("SRV-2")).await;
        if status != 503 {
            answered = Some((status, text));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, text) = answered.expect("the daemon answers again after the outage");
    assert_eq!(status, 201, "SRV-2 was not half-stored during the outage: {text}");
    let (status, _, text) = call(&d, Method::POST, "/api/v1/batches", &token, batch).await;
    assert_eq!(status, 200, "{text}");
    let receipt: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(receipt["duplicate"], false, "the refused delivery left nothing behind: {receipt}");
    let (status, v) = d.admin_json(Method::GET, "/api/v1/assets", None).await;
    assert_eq!(status, 200, "{v}");
    let tags: Vec<&str> = v.as_array().unwrap().iter().filter_map(|a| a["tag"].as_str()).collect();
    assert_eq!(tags, ["SRV-1", "SRV-2"], "{v}");
    d.stop().await;
}
