//! Tests of ending writers stopped mid-statement (`stuck.rs`), against a
//! real server and a real client stopped with `SIGSTOP` (`psql`, installed
//! with the server): each needs `CENSUS_TEST_POSTGRES`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{EndedWriter, Holder, PostgresStore, Verdict, WRITE_LOCK, judge, lock_key};

/// A `psql` running `sql` on the store's database; stopped, resumed and
/// killed on drop, so a failing test leaves no client (nor lock) behind.
struct Client(Child);

impl Client {
    fn run(url: &str, name: &str, sql: &str) -> Client {
        let child = Command::new("psql")
            .env("PGAPPNAME", name)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql (PostgreSQL's client, installed with the server the test uses) runs");
        Client(child)
    }

    /// A `psql` named `name` that takes the write lock of `store` in a
    /// transaction and then sits idle in it (its input kept open).
    fn idle_holding(store: &PostgresStore, url: &str, name: &str) -> Client {
        let key = lock_key(WRITE_LOCK, &store.schema);
        Client::piped(url, name, &format!("BEGIN; SELECT pg_advisory_xact_lock({key});"))
    }

    /// A `psql` named `name` reading `sql` from its input, which is kept
    /// open (so it stays connected, and goes on after an error).
    fn piped(url: &str, name: &str, sql: &str) -> Client {
        use std::io::Write;
        let mut child = Command::new("psql")
            .env("PGAPPNAME", name)
            .args(["-X", "-q", "-d", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql (PostgreSQL's client, installed with the server the test uses) runs");
        let stdin = child.stdin.as_mut().expect("psql's input");
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
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

/// A `psql` named `name` holding the write lock of `store` in a statement
/// that streams rows, stopped once the server is blocked sending to it;
/// returns it and its backend's pid.
fn stopped_reader(store: &PostgresStore, url: &str, name: &str, admin: &mut postgres::Client) -> (Client, i32) {
    let key = lock_key(WRITE_LOCK, &store.schema);
    // One statement takes the lock (at its first row) and then streams rows far faster than a stopped client reads.
    let client = Client::run(
        url,
        name,
        &format!("SELECT pg_advisory_xact_lock({key}), repeat('x', 2000) FROM generate_series(1, 20000000)"),
    );
    let pid = holder_of(admin, key);
    client.signal("-STOP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while activity(admin, pid).and_then(|a| a.1).as_deref() != Some("ClientWrite") {
        assert!(Instant::now() < deadline, "the server blocked sending to the stopped client");
        std::thread::sleep(Duration::from_millis(20));
    }
    (client, pid)
}

/// Regression: a daemon stopped while the server was sending it rows
/// inside a write held the write lock for as long as it stayed stopped (the
/// session is active, so no idle timeout ended it): every other daemon's
/// writes waited two minutes and failed, over and over. Now a daemon
/// watching ends the session of a daemon silent for the stall limit, and
/// the writes waiting go through — even with every pooled connection taken
/// by writers waiting for the lock (the watcher has a session of its own).
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_stopped_daemons_writer_is_ended_and_the_write_lock_freed() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let mut admin = store.target.connect().unwrap();
    let (_client, pid) = stopped_reader(&store, &url, "censusd 1@stopped-daemon", &mut admin);

    // Writers of another daemon wait for the lock meanwhile, on every connection of its pool.
    let other = std::sync::Arc::new(PostgresStore::open_config_sized(store.target.clone(), None, 2).unwrap());
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let other = other.clone();
            std::thread::spawn(move || other.write(|tx| Ok(tx.execute("SELECT 1", &[])?)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let stall = Duration::from_secs(2);
    let t = Instant::now();
    let mut ended = Vec::new();
    while ended.is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "the stuck writer was ended");
        ended = other.end_stuck_writers_after(stall).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(ended, vec![EndedWriter { pid, daemon: "censusd 1@stopped-daemon".into() }]);
    for w in writers {
        w.join().unwrap().expect("the waiting write went through once the lock was freed");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while activity(&mut admin, pid).is_some() {
        assert!(Instant::now() < deadline, "the stuck session is gone");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Regression (review): a live daemon reading a large result over a slow
/// link is blocked on its client as long as a stopped one, and was ended
/// after a minute, so its large reads could never finish. A daemon showing
/// signs of life on another session (its watcher's looks) is left alone
/// however long its read; once it falls silent it is ended. Needs
/// `CENSUS_TEST_POSTGRES`.
#[test]
fn a_slow_reader_whose_daemon_is_alive_is_left_alone_until_it_falls_silent() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let mut admin = store.target.connect().unwrap();
    let name = "censusd 2@slow-daemon";
    let (_client, pid) = stopped_reader(&store, &url, name, &mut admin);
    let (ended, silent) = alive_then_silent(&store, name, Duration::from_secs(4));
    assert!(silent >= STALL - Duration::from_millis(300), "not before it was silent for the limit: {silent:?}");
    assert_eq!(ended.iter().map(|e| e.pid).collect::<Vec<_>>(), vec![pid]);
}

/// The stall limit of the tests that watch a daemon fall silent.
const STALL: Duration = Duration::from_secs(1);

/// With another session named `name` showing its daemon alive, `store`'s
/// watch (stall limit [`STALL`]) ends nothing for `alive_for`; once that
/// session falls silent, the watch ends something within 30 s. Returns
/// what it ended, and when, counted from the last sign of life.
fn alive_then_silent(store: &PostgresStore, name: &str, alive_for: Duration) -> (Vec<EndedWriter>, Duration) {
    let mut beat = store.target.connect().unwrap();
    beat.execute("SELECT set_config('application_name', $1, false)", &[&name]).unwrap();
    let t = Instant::now();
    while t.elapsed() < alive_for {
        beat.batch_execute("SELECT 1").unwrap();
        assert_eq!(store.end_stuck_writers_after(STALL).unwrap(), vec![], "a live daemon's session is left alone");
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = Instant::now();
    let mut ended = Vec::new();
    while ended.is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "ended once its daemon fell silent");
        ended = store.end_stuck_writers_after(STALL).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    (ended, t.elapsed())
}

/// Never ended: a writer busy in the server (not blocked on its client),
/// and a session that is not a Census daemon's (a `psql`), however long
/// they hold the lock. Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_working_writer_or_a_foreign_session_is_left_alone() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let key = lock_key(WRITE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    let busy = Client::run(&url, "censusd 3@busy-daemon", &format!("SELECT pg_advisory_xact_lock({key}), pg_sleep(4)"));
    let pid = holder_of(&mut admin, key);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        assert_eq!(store.end_stuck_writers_after(Duration::from_millis(500)).unwrap(), vec![]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (state, _) = activity(&mut admin, pid).expect("the busy writer's session lives");
    assert_eq!(state, "active");
    drop(busy);
    let deadline = Instant::now() + Duration::from_secs(10);
    while activity(&mut admin, pid).is_some() {
        assert!(Instant::now() < deadline, "the busy writer let go");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (_foreign, pid) = stopped_reader(&store, &url, "psql", &mut admin);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        assert_eq!(store.end_stuck_writers_after(Duration::from_millis(500)).unwrap(), vec![]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(activity(&mut admin, pid).is_some(), "the foreign session lives");
}

/// Regression (review): a daemon frozen between two statements of a write
/// was ended only by the server's idle-in-transaction timeout of a minute,
/// which also ended a live daemon's import whose large statement took over
/// a minute to send over a slow link (the server counts a statement still
/// arriving as idle). Now the daemons end an idle holder only when its
/// daemon is silent, as they do a blocked one; the server's timeout is a
/// ten-minute backstop. A `psql` named as a daemon stands for it. Needs
/// `CENSUS_TEST_POSTGRES`.
#[test]
fn an_idle_holder_is_ended_only_once_its_daemon_falls_silent() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let mut admin = store.target.connect().unwrap();
    let name = "censusd 4@idle-daemon";
    let _idle = Client::idle_holding(&store, &url, name);
    let pid = holder_of(&mut admin, lock_key(WRITE_LOCK, &store.schema));
    let deadline = Instant::now() + Duration::from_secs(10);
    while activity(&mut admin, pid).map(|a| a.0).as_deref() != Some("idle in transaction") {
        assert!(Instant::now() < deadline, "the holder sits idle in its transaction");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ended, silent) = alive_then_silent(&store, name, Duration::from_secs(3));
    assert!(silent >= STALL - Duration::from_millis(300), "not before it was silent for the limit: {silent:?}");
    assert_eq!(ended, vec![EndedWriter { pid, daemon: name.into() }]);
    // The lock is free: a write goes through at once.
    store.write(|tx| Ok(tx.execute("SELECT 1", &[])?)).unwrap();

    // Not a daemon's: left alone however long it idles.
    let _psql = Client::idle_holding(&store, &url, "psql");
    let pid = holder_of(&mut admin, lock_key(WRITE_LOCK, &store.schema));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        assert_eq!(store.end_stuck_writers_after(Duration::from_millis(300)).unwrap(), vec![]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(activity(&mut admin, pid).is_some(), "the foreign session lives");
}

/// A Unix-socket path to the server that passes what clients send at
/// about `rate` bytes a second (what the server sends goes at full speed):
/// a slow link. Its threads end with their connections; it accepts until
/// dropped.
struct SlowLink {
    dir: tempfile::TempDir,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SlowLink {
    fn start(server: std::path::PathBuf, port: u16, rate: usize) -> SlowLink {
        use std::io::{Read, Write};
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{port}"))).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let mut up = UnixStream::connect(&server).unwrap();
                let (mut down_from, mut down_to) = (up.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut down_from, &mut down_to);
                    let _ = down_to.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let chunk = (rate / 20).max(1);
                    let mut buf = vec![0u8; chunk];
                    while let Ok(n) = client.read(&mut buf) {
                        if n == 0 || up.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = up.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        SlowLink { dir, stop }
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Regression (second review): a live daemon's register import over a
/// slow link failed — the server counts a statement still arriving as
/// *idle in transaction*, and ended the import's session once its large
/// statement had taken a minute to send (the pooled sessions' idle limit
/// was a minute). Now a pooled session's idle limit is the ten-minute
/// backstop, and the watch leaves an idle holder of a live daemon alone:
/// a write whose statement arrives slowly, under the write lock, while
/// its daemon watches with a one-second stall limit, goes through. Needs
/// `CENSUS_TEST_POSTGRES` naming a server on a Unix socket (skipped over TCP).
#[test]
fn a_live_daemons_write_sent_over_a_slow_link_is_left_to_finish() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let Some((slow, _link)) = through_slow_link(&store, 100_000) else { return };
    let limit: String =
        slow.read(|tx| Ok(tx.query_one("SHOW idle_in_transaction_session_timeout", &[])?.get(0))).unwrap();
    assert_eq!(limit, "10min");

    // About 4 s to send at 100 KB/s, after the lock is taken: prepared in
    // a round trip of its own (the server then waits idle for its
    // parameters), and sent with its text (it waits active).
    let writer = std::thread::spawn(move || {
        let big = "x".repeat(400_000);
        let prepared = slow.write(|tx| Ok(tx.query_one("SELECT length($1)", &[&big])?.get::<_, i32>(0)));
        let typed = slow.write(|tx| {
            Ok(tx.query_typed_one("SELECT length($1)", &[(&big, postgres::types::Type::TEXT)])?.get::<_, i32>(0))
        });
        (prepared, typed)
    });
    let key = lock_key(WRITE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    let mut seen = std::collections::HashSet::new();
    while !writer.is_finished() {
        assert_eq!(store.end_stuck_writers_after(STALL).unwrap(), vec![], "a live daemon's writer");
        if let Some(r) = admin
            .query_opt(
                "SELECT a.state, a.wait_event FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
                &[&key],
            )
            .unwrap()
        {
            seen.insert((r.get::<_, String>(0), r.get::<_, Option<String>>(1)));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (prepared, typed) = writer.join().unwrap();
    assert_eq!(prepared.expect("the slow prepared write went through"), 400_000);
    assert_eq!(typed.expect("the slow typed write went through"), 400_000);
    let client_read = Some("ClientRead".to_string());
    assert!(seen.contains(&("idle in transaction".into(), client_read.clone())), "{seen:?}");
    assert!(seen.contains(&("active".into(), client_read)), "{seen:?}");
}

/// A store on `store`'s schema whose connections pass through a
/// [`SlowLink`] of `rate` bytes a second, with the link; `None` when the
/// test server is not on a Unix socket.
fn through_slow_link(store: &PostgresStore, rate: usize) -> Option<(PostgresStore, SlowLink)> {
    let Some(postgres::config::Host::Unix(dir)) = store.target.config.get_hosts().first().cloned() else {
        return None;
    };
    let port = store.target.config.get_ports().first().copied().unwrap_or(5432);
    let link = SlowLink::start(dir.join(format!(".s.PGSQL.{port}")), port, rate);
    let c = &store.target.config;
    let link_url = format!(
        "postgres://{}@/{}?host={}&port={port}",
        c.get_user().unwrap_or("postgres"),
        c.get_dbname().unwrap_or("postgres"),
        link.dir.path().display()
    );
    let mut target = crate::store::pg::Target::parse(&link_url).unwrap();
    target.config.options(c.get_options().unwrap_or_default());
    Some((PostgresStore::open_config_sized(target, None, 1).unwrap(), link))
}

/// Regression (third review): a daemon frozen while sending a large
/// statement (its parameters follow its text, so the server waits for the
/// rest in the *active* state, on `ClientRead`) was never ended: the rule
/// knew only `ClientWrite`, and no idle limit applies to an active session.
/// The writer's session is renamed as a daemon of its own that shows no
/// other sign of life, and its statement crawls through a slow link.
/// Needs `CENSUS_TEST_POSTGRES` naming a server on a Unix socket.
#[test]
fn a_silent_daemons_statement_stuck_midway_is_ended() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let Some((slow, _link)) = through_slow_link(&store, 20_000) else { return };
    let writer = std::thread::spawn(move || {
        let big = "x".repeat(400_000);
        slow.write(|tx| {
            tx.execute("SELECT set_config('application_name', 'censusd 5@frozen', false)", &[])?;
            Ok(tx.query_typed_one("SELECT length($1)", &[(&big, postgres::types::Type::TEXT)])?.get::<_, i32>(0))
        })
    });
    let mut admin = store.target.connect().unwrap();
    let pid = holder_of(&mut admin, lock_key(WRITE_LOCK, &store.schema));
    let t = Instant::now();
    let mut ended = Vec::new();
    let mut waits = Vec::new();
    while ended.is_empty() {
        assert!(t.elapsed() < Duration::from_secs(15), "ended within its stall limit");
        waits.extend(activity(&mut admin, pid).and_then(|a| a.1));
        ended = store.end_stuck_writers_after(STALL).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ended, vec![EndedWriter { pid, daemon: "censusd 5@frozen".into() }]);
    assert!(waits.iter().any(|w| w == "ClientRead"), "the server waited for the statement's rest: {waits:?}");
    assert!(writer.join().unwrap().is_err(), "the ended write failed and wrote nothing");
}

/// Regression (third review): a frozen daemon's other sessions changed
/// state without it — a write it had sent before freezing timed out
/// waiting for the lock — and that counted as its sign of life, so the
/// holder was ended a minute late. Only a statement sent counts now.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_server_side_state_change_is_no_sign_of_life() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let key = lock_key(WRITE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    let name = "censusd 6@frozen";
    let _holder = Client::idle_holding(&store, &url, name);
    let holder = holder_of(&mut admin, key);
    let _waiter =
        Client::piped(&url, name, &format!("SET lock_timeout = '3s'; BEGIN; SELECT pg_advisory_xact_lock({key});"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> $2 AND state = 'idle in transaction (aborted)'",
                &[&name, &holder],
            )
            .unwrap();
        if let Some(r) = row {
            break r.get::<_, i32>(0);
        }
        assert!(Instant::now() < deadline, "the waiter's lock timeout ended its statement");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Its state changed just now, by the server; its statement was sent 3 s ago.
    let ended = store.end_stuck_writers_after(Duration::from_secs(2)).unwrap();
    assert_eq!(ended, vec![EndedWriter { pid: holder, daemon: name.into() }], "waiter {waiting} is no sign of life");
}

fn holder(state: Option<&str>, wait: Option<&str>, name: &str, long: bool, alive: bool) -> Holder {
    Holder {
        pid: 7,
        ingest: false,
        state: state.map(Into::into),
        wait_event: wait.map(Into::into),
        query_start: None,
        application_name: name.into(),
        client: "local".into(),
        long,
        alive,
    }
}

/// Regression (review): the name was `censusd PID@HOST` cut to 63 bytes,
/// the same for daemons run as PID 1 in containers under one host name or
/// under host names that differ only past the cut; a stopped one then
/// looked alive through its namesake's looks and was never ended. The name
/// now starts with a nonce of the process's own, never cut.
#[test]
fn a_daemons_session_name_is_its_own_and_fits() {
    let name = super::daemon_name();
    assert!(name.len() <= 63, "{name}");
    let nonce = name.strip_prefix("censusd ").and_then(|n| n.split(' ').next()).unwrap();
    assert_eq!(nonce.len(), 16, "{name}");
    assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    assert!(name.contains(&format!(" {}@", std::process::id())), "{name}");
}

/// The rule, row by row (`judge`).
#[test]
fn only_a_silent_daemons_long_blocked_statement_is_ended() {
    let d = "censusd 1@host";
    let cw = Some("ClientWrite");
    assert_eq!(judge(&holder(Some("active"), cw, d, true, false)), Verdict::End);
    assert_eq!(judge(&holder(Some("active"), cw, d, true, true)), Verdict::Leave, "its daemon is alive");
    assert_eq!(judge(&holder(Some("active"), cw, d, false, false)), Verdict::Leave, "statement too young");
    assert_eq!(judge(&holder(Some("active"), None, d, true, false)), Verdict::Leave, "working");
    assert_eq!(judge(&holder(Some("active"), Some("ClientRead"), d, true, false)), Verdict::End, "stuck midway");
    assert_eq!(judge(&holder(Some("active"), Some("ClientRead"), d, true, true)), Verdict::Leave, "sending slowly");
    let idle = Some("idle in transaction");
    assert_eq!(judge(&holder(idle, Some("ClientRead"), d, true, false)), Verdict::End, "frozen between statements");
    assert_eq!(judge(&holder(idle, Some("ClientRead"), d, true, true)), Verdict::Leave, "sending slowly, alive");
    assert_eq!(judge(&holder(idle, Some("ClientRead"), d, false, false)), Verdict::Leave, "idle too briefly");
    let aborted = Some("idle in transaction (aborted)");
    assert_eq!(judge(&holder(aborted, Some("ClientRead"), d, true, false)), Verdict::End);
    assert_eq!(judge(&holder(Some("idle"), Some("ClientRead"), d, true, false)), Verdict::Leave, "no transaction");
    assert_eq!(judge(&holder(Some("active"), cw, "psql", true, false)), Verdict::WarnForeign);
    assert_eq!(judge(&holder(idle, Some("ClientRead"), "psql", true, false)), Verdict::WarnForeign);
    assert_eq!(judge(&holder(idle, Some("ClientRead"), "psql", false, false)), Verdict::Leave);
    assert_eq!(judge(&holder(None, None, "", false, false)), Verdict::WarnInvisible);
}
