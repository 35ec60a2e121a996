//! Tests of ending writers stopped mid-statement (`stuck.rs`), against a
//! real server and a real client stopped with `SIGSTOP` (`psql`, installed
//! with the server): each needs `CENSUS_TEST_POSTGRES`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PostgresStore, WRITE_LOCK, lock_key};

/// A `psql` running `sql` on the store's database; stopped, resumed and
/// killed on drop, so a failing test leaves no client (nor lock) behind.
struct Client(Child);

impl Client {
    fn run(url: &str, sql: &str) -> Client {
        let child = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql (PostgreSQL's client, installed with the server the test uses) runs");
        Client(child)
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args([signal, &self.0.id().to_string()]).status();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The backend holding advisory lock `key`, once one does (within 10 s).
fn holder_of(admin: &mut postgres::Client, key: i64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                   AND ((classid::bigint << 32) | objid::bigint) = $1",
                &[&key],
            )
            .unwrap();
        if let Some(r) = row {
            return r.get(0);
        }
        assert!(Instant::now() < deadline, "the client took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `pid`'s state and wait event, or `None` once its session is gone.
fn activity(admin: &mut postgres::Client, pid: i32) -> Option<(String, Option<String>)> {
    admin
        .query_opt("SELECT state, wait_event FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// Regression: a daemon stopped while the server was sending it rows
/// inside a write held the write lock for as long as it stayed stopped (the
/// session is active, so no idle timeout ended it): every other daemon's
/// writes waited two minutes and failed, over and over. Now a daemon
/// watching ends a session seen blocked on its client, holding the lock,
/// for the stall limit, and the writes waiting go through. Needs
/// `CENSUS_TEST_POSTGRES`.
#[test]
fn a_writer_stopped_while_sent_rows_is_ended_and_the_write_lock_freed() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let key = lock_key(WRITE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    // One statement takes the lock (at its first row) and then streams rows far faster than a stopped client reads.
    let client = Client::run(
        &url,
        &format!("SELECT pg_advisory_xact_lock({key}), repeat('x', 2000) FROM generate_series(1, 20000000)"),
    );
    let pid = holder_of(&mut admin, key);
    client.signal("-STOP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while activity(&mut admin, pid).and_then(|a| a.1).as_deref() != Some("ClientWrite") {
        assert!(Instant::now() < deadline, "the server blocked sending to the stopped client");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A write of this daemon waits for the lock meanwhile.
    let writer = {
        let store = PostgresStore::open_config(store.target.clone(), None).unwrap();
        std::thread::spawn(move || {
            let t = Instant::now();
            store.write(|tx| Ok(tx.execute("SELECT 1", &[])?)).map(|_| t.elapsed())
        })
    };
    let stall = Duration::from_secs(2);
    let t = Instant::now();
    let mut ended = Vec::new();
    while ended.is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "the stuck writer was ended");
        ended = store.end_stuck_writers_after(stall).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(t.elapsed() >= stall, "not before it was seen stuck for the limit: {:?}", t.elapsed());
    assert_eq!(ended.iter().map(|e| e.pid).collect::<Vec<_>>(), vec![pid]);
    let waited = writer.join().unwrap().expect("the waiting write went through once the lock was freed");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while activity(&mut admin, pid).is_some() {
        assert!(Instant::now() < deadline, "the stuck session is gone");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A writer busy in the server (not blocked on its client), or one whose
/// client keeps reading, is never ended, however long it holds the lock.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_writer_that_is_working_is_left_alone() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let key = lock_key(WRITE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    let _busy = Client::run(&url, &format!("SELECT pg_advisory_xact_lock({key}), pg_sleep(4)"));
    let pid = holder_of(&mut admin, key);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        assert_eq!(store.end_stuck_writers_after(Duration::from_millis(500)).unwrap(), vec![]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (state, _) = activity(&mut admin, pid).expect("the busy writer's session lives");
    assert_eq!(state, "active");
}
