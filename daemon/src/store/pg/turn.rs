//! PostgreSQL: taking turns with the other daemons on the same database.
//!
//! A turn is a session-level advisory lock held on a connection of its own
//! (outside the pool, so a pooled connection never goes back with a lock
//! on it). Ending the turn closes that connection, which releases the
//! lock; a daemon killed with `kill -9` loses its connection — the kernel
//! closes the socket, the server ends the session — and with it the turn.
//!
//! A holder that stops without its connection closing — a process stopped
//! (`SIGSTOP`, a debugger), a paused VM, a machine gone from the network
//! without a word — would otherwise keep the turn for as long as the
//! server keeps its session: until it thaws, or for hours while the
//! server's TCP keepalives (the system's default, two hours idle) wait.
//! So the turn is a **lease the server enforces** ([`Lease`]): the turn's
//! session is ended by the server once idle for [`LEASE`]`.expires`
//! (`idle_session_timeout`, PostgreSQL 14 and later), and a thread of the
//! holder renews it every [`LEASE`]`.renew` with a round trip. A holder
//! that cannot renew — stopped, or cut off — loses the turn within
//! `expires`, and another daemon takes it; when it comes back, its check
//! before writing fails and it writes nothing. Only the server's clock
//! counts: no timestamps are compared between machines. The session also
//! asks the server to probe its peer (server-side TCP keepalives, 30 s
//! then every 10 s, three misses), which is what bounds a vanished
//! machine's turn on servers older than 14.

use std::sync::mpsc;
use std::time::Duration;

use super::{PostgresStore, lock_key, off_runtime};
use crate::store::{CoordinationStore, Job, SharedChanges, StoreError, Turn, TurnHolder};

/// Advisory lock key of a full reconcile ("census-f" in ASCII).
pub const FULL_RECONCILE_LOCK: i64 = 0x6365_6e73_7573_2d66;

fn key(job: Job) -> i64 {
    match job {
        Job::FullReconcile => FULL_RECONCILE_LOCK,
    }
}

/// The job's row in `turns`.
fn job_name(job: Job) -> &'static str {
    match job {
        Job::FullReconcile => "full_reconcile",
    }
}

/// A turn lost before its run wrote: nothing was written, and asking again may succeed (503, retried).
fn lost_turn(why: &str) -> StoreError {
    StoreError::Busy(format!(
        "the full reconcile's turn was lost ({why}); nothing of this run was written, the next one asks for a turn again"
    ))
}

/// The daemon stopped waiting for a turn (`give_up` said so): nothing was run or written.
fn stopped_waiting() -> StoreError {
    StoreError::Busy("the daemon is stopping: it stopped waiting for the full reconcile's turn".into())
}

/// The fence of a write decided under `turn` of `job` (on the store in `schema`), in the writer's
/// transaction. The job's latest turn number is read with a share lock, so
/// a daemon taking the next turn (which raises the number, `turn_with`)
/// waits until this transaction ends, and this transaction, once the number
/// is raised, sees it: either the write commits before the next turn's run
/// begins, or it is refused. The turn's lock must also still be held by the
/// session that took it: a daemon of an earlier build (during an upgrade)
/// takes the lock without raising the number.
///
/// # Errors
/// [`StoreError::Busy`] when another turn was granted since, or the turn's
/// session no longer holds it.
pub(super) fn fence(
    tx: &mut super::Tx<'_>,
    schema: &str,
    job: Job,
    turn: crate::store::TurnFence,
) -> Result<(), StoreError> {
    // One round trip: the number (share-locked) and whether the turn's session holds the lock.
    let row = tx.query_one(
        "SELECT (SELECT number FROM turns WHERE job = $1 FOR SHARE),
                EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                          AND ((classid::bigint << 32) | objid::bigint) = $2 AND pid = $3)",
        &[&job_name(job), &lock_key(key(job), schema), &(turn.holder as i32)],
    )?;
    let (latest, held): (Option<i64>, bool) = (row.get(0), row.get(1));
    if latest == Some(turn.number) && held {
        return Ok(());
    }
    tracing::warn!(turn = turn.number, latest, held, "a full reconcile decided under a turn since lost: not written");
    Err(lost_turn(&if held {
        format!("turn {} passed to another daemon, now at turn {}", turn.number, latest.unwrap_or(0))
    } else {
        format!("turn {}: its session no longer holds it", turn.number)
    }))
}

/// How long a daemon waits for another's turn at most; then its run fails and the next one asks again.
const TURN_WAIT: Duration = Duration::from_secs(600);

/// How often a daemon waiting for another's turn asks for it again.
const TURN_POLL: Duration = Duration::from_millis(250);

/// Take the advisory lock `key` on `client`'s session, asking every
/// [`TURN_POLL`] (`pg_try_advisory_lock`: a wait that can be given up
/// without cancelling a statement, and that fills no server log) and
/// `give_up` in between, for at most [`TURN_WAIT`].
///
/// # Errors
/// [`StoreError::Busy`] when `give_up` said so; [`StoreError::Db`] once
/// [`TURN_WAIT`] has passed; any statement's error.
fn wait_for_lock(
    client: &mut postgres::Client,
    key: i64,
    give_up: &(dyn Fn() -> bool + Sync),
) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + TURN_WAIT;
    loop {
        if client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.get::<_, bool>(0) {
            return Ok(());
        }
        if give_up() {
            return Err(stopped_waiting());
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Db(format!(
                "another daemon held the full reconcile's turn for {} s; the next run asks again",
                TURN_WAIT.as_secs()
            )));
        }
        std::thread::sleep(TURN_POLL);
    }
}

/// Raise `job`'s turn number and return it. The row's update waits for a
/// fenced commit in flight (`fence` reads it with a share lock) a second at
/// a time, asking `give_up` in between, for at most [`TURN_WAIT`] — a
/// committer stopped while the server sends it a result holds that lock as
/// long as it stays stopped (an active statement: no idle timeout ends it).
///
/// # Errors
/// [`StoreError::Busy`] when `give_up` said so; the lock timeout's error
/// once [`TURN_WAIT`] has passed; any other statement error.
fn raise_number(
    client: &mut postgres::Client,
    job: Job,
    give_up: &(dyn Fn() -> bool + Sync),
) -> Result<i64, StoreError> {
    client.batch_execute("SET lock_timeout = '1s'")?;
    let deadline = std::time::Instant::now() + TURN_WAIT;
    loop {
        let raised = client.query_one(
            "INSERT INTO turns (job, number) VALUES ($1, 1)
             ON CONFLICT (job) DO UPDATE SET number = turns.number + 1 RETURNING number",
            &[&job_name(job)],
        );
        match raised {
            Ok(row) => return Ok(row.get(0)),
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                if give_up() {
                    return Err(stopped_waiting());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How long a turn outlives its holder's last sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lease {
    /// The server ends the turn's session (and so releases the turn) once
    /// the session has been idle this long (`idle_session_timeout`).
    pub expires: Duration,
    /// How often the holder renews it (a `SELECT 1` on the turn's session).
    /// Well under `expires`, so a busy machine's late renewal does not lose it.
    pub renew: Duration,
}

/// The lease of every turn: a frozen or vanished holder keeps the turn at
/// most a minute; a live one renews it four times in that minute.
pub(super) const LEASE: Lease = Lease { expires: Duration::from_secs(60), renew: Duration::from_secs(15) };

/// The first PostgreSQL release with `idle_session_timeout` (`server_version_num`).
const IDLE_SESSION_TIMEOUT_SINCE: i32 = 140_000;

/// What the holder asks of the thread that keeps the turn's session.
enum Ask {
    /// Whether the session (and so the lock) still lives.
    Check(mpsc::Sender<Result<(), StoreError>>),
}

/// The turn's session, kept by a thread of its own (off any async runtime,
/// which the blocking client needs) that renews the lease; the turn ends
/// when this is dropped: the thread closes the session and says so.
struct Held {
    asks: Option<mpsc::Sender<Ask>>,
    closed: mpsc::Receiver<()>,
    fence: crate::store::TurnFence,
}

/// Renew the lease until the holder lets go, answering its checks; then
/// close the session. A renewal that fails means the session is gone (ended
/// by the server, an operator or the network): the turn is lost, and every
/// later check says so without asking the server again.
fn keep(mut client: postgres::Client, asks: mpsc::Receiver<Ask>, closed: mpsc::Sender<()>, lease: Lease) {
    fn ping(client: &mut postgres::Client, lost: &mut Option<String>) {
        if lost.is_none()
            && let Err(e) = client.batch_execute("SELECT 1")
        {
            // The server's own words where it gave any (an idle-session
            // timeout, a terminated backend), not the driver's "db error".
            let cause =
                e.as_db_error().map_or_else(|| e.to_string(), |d| format!("{}: {}", d.code().code(), d.message()));
            tracing::warn!(error = %cause, "the full reconcile's turn was lost with its connection");
            *lost = Some(cause);
        }
    }
    let mut lost: Option<String> = None;
    loop {
        match asks.recv_timeout(lease.renew) {
            Ok(Ask::Check(reply)) => {
                ping(&mut client, &mut lost);
                let _ = reply.send(match &lost {
                    None => Ok(()),
                    Some(e) => Err(lost_turn(&format!("its connection ended: {e}"))),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => ping(&mut client, &mut lost),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // Closing the session releases the lock (and cannot fail in a way that
    // leaves it held: the server drops it with the session).
    drop(client);
    let _ = closed.send(());
}

impl TurnHolder for Held {
    fn check(&mut self) -> Result<(), StoreError> {
        let gone = || lost_turn("its connection is gone");
        let asks = self.asks.as_ref().ok_or_else(gone)?;
        let (reply, answer) = mpsc::channel();
        asks.send(Ask::Check(reply)).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    fn fence(&self) -> crate::store::TurnFence {
        self.fence
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Let go, and wait (a bounded time: the session may hang on a dead
        // network, and the server's lease ends it then) until the session is
        // closed, so the turn is free when the holder's run returns.
        drop(self.asks.take());
        let _ = self.closed.recv_timeout(Duration::from_secs(5));
    }
}

impl PostgresStore {
    /// [`CoordinationStore::turn`] under `lease`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no connection could be made; a store
    /// error when the lock was not granted within [`TURN_WAIT`];
    /// [`StoreError::Busy`] when `give_up` said so meanwhile.
    pub(super) fn turn_with(
        &self,
        job: Job,
        lease: Lease,
        give_up: &(dyn Fn() -> bool + Sync),
    ) -> Result<Turn, StoreError> {
        let target = self.target.clone();
        let key = lock_key(key(job), &self.schema);
        let t = std::time::Instant::now();
        let held = off_runtime(move || {
            let mut client = target.connect()?;
            // A holder that is stuck past its lease is ended by the server;
            // one whose server predates the lease is waited for ten minutes
            // at most (`TURN_WAIT`): then this turn fails, and the caller's
            // next run asks again.
            // The keepalives and the server's version in one round trip.
            let version: i32 = client
                .query_one(
                    "SELECT current_setting('server_version_num')::int,
                            set_config('tcp_keepalives_idle', '30', false),
                            set_config('tcp_keepalives_interval', '10', false),
                            set_config('tcp_keepalives_count', '3', false)",
                    &[],
                )?
                .get(0);
            // The daemon's name on it, and over TCP what the server sends it unread for a minute ends it too.
            super::stuck::session_settings(&mut client)?;
            if version >= IDLE_SESSION_TIMEOUT_SINCE {
                client.batch_execute(&format!("SET idle_session_timeout = {}", lease.expires.as_millis()))?;
            } else {
                tracing::debug!(version, "no idle_session_timeout before PostgreSQL 14: TCP keepalives bound the turn");
            }
            wait_for_lock(&mut client, key, give_up)?;
            // This turn's number, the fence of what its run writes (`fence`).
            let number = raise_number(&mut client, job, give_up)?;
            // The session's pid (the fence's holder), and `raise_number`'s lock timeout put back.
            let pid: i32 =
                client.query_one("SELECT pg_backend_pid(), set_config('lock_timeout', '0', false)", &[])?.get(0);
            // Spawned here, off any async runtime: a client that cannot be
            // handed over is dropped where dropping it may block.
            let (asks, asked) = mpsc::channel();
            let (closing, closed) = mpsc::channel();
            std::thread::Builder::new()
                .name("census-turn".into())
                .spawn(move || keep(client, asked, closing, lease))
                .map_err(|e| StoreError::Db(format!("no thread to keep the turn: {e}")))?;
            Ok(Held { asks: Some(asks), closed, fence: crate::store::TurnFence { number, holder: i64::from(pid) } })
        })?;
        let waited_ms = t.elapsed().as_millis() as u64;
        if waited_ms > 1_000 {
            tracing::info!(?job, waited_ms, "waited for another daemon's turn");
        }
        Ok(Turn::holding(held))
    }
}

impl CoordinationStore for PostgresStore {
    fn turn(&self, job: Job, give_up: &(dyn Fn() -> bool + Sync)) -> Result<Turn, StoreError> {
        self.turn_with(job, LEASE, give_up)
    }

    fn end_stuck_writers(&self) -> Result<usize, StoreError> {
        Ok(self.end_stuck_writers_after(super::STUCK_FOR)?.len())
    }

    fn announce_routes(
        &self,
        daemon: &str,
        routes: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO daemon_routes (daemon, routes, seen_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (daemon) DO UPDATE SET routes = excluded.routes, seen_ms = excluded.seen_ms",
                &[&daemon, &routes, &now_ms],
            )?;
            Ok(tx
                .query(
                    "SELECT daemon, routes FROM daemon_routes WHERE daemon <> $1 AND routes <> $2 AND seen_ms >= $3
                     ORDER BY daemon",
                    &[&daemon, &routes, &since_ms],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn changes(&self) -> Result<SharedChanges, StoreError> {
        // One statement (a snapshot of its own), asked before most reads: no transaction.
        self.single(|s| {
            let mut out = SharedChanges::default();
            for r in s.query_prepared("SELECT name, n FROM generations", &[])? {
                let (name, n): (String, i64) = (r.get(0), r.get(1));
                match name.as_str() {
                    "register" => out.register = n,
                    "directory" => out.directory = n,
                    "licences" => out.licences = n,
                    "retirements" => out.retirements = n,
                    "sources" => out.sources = n,
                    _ => {}
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
